/**
 * Layer objects of this artifact that stand in for DL4J's in an initialized network: {@link
 * io.github.instancenorm.speedups.layers.FastLayers} and the replacement mechanism the installs share.
 */
package io.github.instancenorm.speedups.layers;
