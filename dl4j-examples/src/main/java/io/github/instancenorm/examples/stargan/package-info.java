/**
 * The StarGAN-like training example, {@link io.github.instancenorm.examples.stargan.TrainStarGan}: generated shape
 * images with attribute labels, a generator and discriminator from the zoo trained with a least-squares GAN loss
 * (or StarGAN's WGAN-GP, {@code --loss wgan-gp}), cycle and classification losses, and the measures that say
 * whether it worked (target-attribute accuracy from a separately trained classifier, content IoU).
 */
package io.github.instancenorm.examples.stargan;
