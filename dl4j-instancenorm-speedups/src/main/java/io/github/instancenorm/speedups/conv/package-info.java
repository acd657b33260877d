/**
 * Faster convolutions for any DL4J network on the CPU backend: {@link io.github.instancenorm.speedups.conv.FastConvolutions}
 * puts a helper into each {@code ConvolutionLayer} that runs libnd4j's {@code conv2d}/{@code conv2d_bp} ops, which
 * use oneDNN in the onednn builds of {@code nd4j-native}. Everything it cannot run (other backends, double, dilation)
 * stays on DL4J's own path.
 */
package io.github.instancenorm.speedups.conv;
