/**
 * JMH benchmarks of the instance-normalization layer; run them, with PyTorch alongside, through
 * {@code dl4j-benchmarks/run-benchmarks.sh} (see {@code dl4j-benchmarks/README.md}).
 *
 * <ul>
 *   <li>{@link io.github.instancenorm.benchmarks.NormalizationBenchmark}: the layer's training forward, inference
 *       forward and forward + backward, next to DL4J's {@code BatchNormalization};</li>
 *   <li>{@link io.github.instancenorm.benchmarks.MemoryBandwidthBenchmark}: the copy that bounds them;</li>
 *   <li>{@link io.github.instancenorm.benchmarks.StarGanStepBenchmark}: the zoo's StarGAN generator and
 *       discriminator at StarGAN's size and the example's: a whole iteration of the real trainer
 *       ({@code StarGanTrainer}, LSGAN and WGAN-GP), each network's training step (forward, backward, Adam), forward +
 *       backward, and inference; run with {@code run-stargan-benchmarks.sh}, the per-network methods next to
 *       PyTorch and libtorch.</li>
 * </ul>
 */
package io.github.instancenorm.benchmarks;
