/**
 * Small programs to run and read: {@link io.github.instancenorm.examples.InstanceNormQuickstart} (the layer in a
 * tiny network, its running statistics converging) and {@link io.github.instancenorm.examples.StarGanTranslate}
 * (a StarGAN checkpoint translating images into a grid), {@link io.github.instancenorm.examples.OnnxTranslate}
 * (the same grid from a generator exported to ONNX). The training example is in {@code stargan}.
 */
package io.github.instancenorm.examples;
