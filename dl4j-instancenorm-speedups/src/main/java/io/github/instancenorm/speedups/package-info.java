/**
 * Training speed-ups for any DL4J network on the CPU backend, installed in one call:
 * {@link io.github.instancenorm.speedups.Speedups#install}. Convolutions on oneDNN
 * ({@code io.github.instancenorm.speedups.conv}), and a cheaper optimizer step with DL4J's arithmetic
 * ({@code io.github.instancenorm.speedups.updater}). A network needs no instance-norm layer: the speed-ups share the
 * CPU runtime ({@code io.github.instancenorm.runtime}) with the layer's kernels and take
 * {@link io.github.instancenorm.learning.TorchAdam}'s configuration from the core artifact, to give its updater
 * blocks a kernel.
 */
package io.github.instancenorm.speedups;
