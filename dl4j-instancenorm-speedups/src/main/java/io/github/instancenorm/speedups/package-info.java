/**
 * Training speed-ups for any DL4J network on the CPU backend, installed in one call:
 * {@link io.github.instancenorm.speedups.Speedups#install}. Convolutions on oneDNN
 * ({@code io.github.instancenorm.speedups.conv}), and a cheaper optimizer step with DL4J's arithmetic
 * ({@code io.github.instancenorm.speedups.updater}). Independent of the instance-norm layer: the two share only the
 * CPU runtime ({@code io.github.instancenorm.runtime}).
 */
package io.github.instancenorm.speedups;
