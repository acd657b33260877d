/**
 * The libtorch 2.7 peer of {@code StarGanStepBenchmark}: {@link
 * io.github.instancenorm.benchmarks.libtorch.LibTorchStarGan}. A module of its own because its JavaCPP version
 * differs from ND4J's.
 */
package io.github.instancenorm.benchmarks.libtorch;
