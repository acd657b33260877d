/**
 * Models built from the library: {@link io.github.instancenorm.zoo.StarGan}, yunjey/stargan's generator and
 * discriminator as DL4J {@code ComputationGraph}s, with their PyTorch parameter names, loading from the original
 * checkpoints, and both statistics modes (running statistics as {@code G.eval()}, instance statistics as StarGAN's
 * test code).
 */
package io.github.instancenorm.zoo;
