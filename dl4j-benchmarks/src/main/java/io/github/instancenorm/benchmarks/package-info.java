/**
 * JMH benchmarks of the instance-normalization layer; run them, with PyTorch alongside, through
 * {@code dl4j-benchmarks/run-benchmarks.sh} (see {@code dl4j-benchmarks/README.md}).
 *
 * <ul>
 *   <li>{@link io.github.instancenorm.benchmarks.NormalizationBenchmark}: the layer's training forward, inference
 *       forward and forward + backward, next to DL4J's {@code BatchNormalization};</li>
 *   <li>{@link io.github.instancenorm.benchmarks.MemoryBandwidthBenchmark}: the copy that bounds them.</li>
 * </ul>
 *
 * <p>TODO(issue 7, StarGAN step): a full StarGAN generator training step (DL4J vs PyTorch on the same batch) belongs
 * here as {@code StarGanStepBenchmark} once the StarGAN zoo model lands (being written on another branch); add the
 * matching PyTorch generator to {@code src/main/python/bench_torch.py} and a row group to {@code report.py}.
 */
package io.github.instancenorm.benchmarks;
