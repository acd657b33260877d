/**
 * Training configurations that a saved network's JSON names: {@link io.github.instancenorm.learning.TorchAdam},
 * PyTorch's {@code torch.optim.Adam} as a DL4J updater (with its
 * {@link io.github.instancenorm.learning.TorchAdamUpdater}), {@link io.github.instancenorm.learning.DecoupledWeightDecay},
 * the weight decay that makes it {@code AdamW}, and StarGAN's
 * {@link io.github.instancenorm.learning.LinearDecaySchedule}. They live in the core artifact, and their class names
 * never move, so that loading a saved network needs neither the speed-ups nor a trainer.
 */
package io.github.instancenorm.learning;
