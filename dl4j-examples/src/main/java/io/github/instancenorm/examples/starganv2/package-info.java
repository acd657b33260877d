/**
 * The StarGAN v2 example's data and its judge: {@link io.github.instancenorm.examples.starganv2.ShapesV2Data}
 * generates shapes whose texture is the domain, whose colour palette is the style and whose silhouette is the content;
 * {@link io.github.instancenorm.examples.starganv2.ShapesV2Judge} measures translations of them (target domain, style
 * of the reference, content IoU, diversity) without any trained network.
 */
package io.github.instancenorm.examples.starganv2;
