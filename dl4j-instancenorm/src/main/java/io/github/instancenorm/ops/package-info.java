/**
 * Instance normalization as an op: {@link io.github.instancenorm.ops.InstanceNorm}, the one definition of the math
 * that the layer and the SameDiff op share (checks, shapes, the backend-agnostic ND4J-op form), and
 * {@link io.github.instancenorm.ops.InstanceNormLayout}. Faster kernels plug in through
 * {@link io.github.instancenorm.ops.KernelDispatch}; the CPU ones are in {@code io.github.instancenorm.ops.cpu}.
 */
package io.github.instancenorm.ops;
