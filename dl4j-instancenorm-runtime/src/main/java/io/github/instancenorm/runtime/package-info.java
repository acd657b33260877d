/**
 * The CPU runtime that this project's kernels share, those of the layer ({@code dl4j-instancenorm}) and those of the
 * speed-ups ({@code dl4j-instancenorm-speedups}): the system properties ({@link io.github.instancenorm.runtime.KernelSettings}),
 * the threads ({@link io.github.instancenorm.runtime.KernelThreads}) and the host-array checks
 * ({@link io.github.instancenorm.runtime.HostArrays}). Users set the properties; the classes are for the kernels.
 */
package io.github.instancenorm.runtime;
