/**
 * The layer's implementation: {@link io.github.instancenorm.layers.InstanceNormalizationLayer}, the stateful object
 * DL4J creates from the configuration. It runs the forward in training or inference mode, the backward, and writes
 * the running statistics in place (zero gradient, never touched by the updater).
 */
package io.github.instancenorm.layers;
