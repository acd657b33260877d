/**
 * GAN training pieces for DL4J graphs: {@link io.github.instancenorm.zoo.gan.GradientPenalty}, WGAN-GP's and R1's
 * gradient penalties with their parameter gradient from a finite difference of two ordinary backward passes (DL4J
 * cannot differentiate a backward pass).
 */
package io.github.instancenorm.zoo.gan;
