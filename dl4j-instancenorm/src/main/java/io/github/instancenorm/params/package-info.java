/**
 * The layer's parameter initializer: the parameter keys ({@code gamma}, {@code beta}, {@code mean}, {@code var},
 * {@code numBatchesTracked}), their order in the network's parameter vector, their initial values, and which of
 * them are trainable.
 */
package io.github.instancenorm.params;
