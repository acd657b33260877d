/**
 * The layer's configuration: {@link io.github.instancenorm.conf.InstanceNormalization} and its {@code Builder}, the
 * class a network's JSON names. It holds the options (eps, momentum, affine, running statistics, layout), checks
 * them, and says which implementation and parameter initializer the layer uses; the math lives in
 * {@code io.github.instancenorm.ops}.
 */
package io.github.instancenorm.conf;
