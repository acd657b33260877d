/**
 * Instance normalization for SameDiff graphs: {@link io.github.instancenorm.samediff.SDInstanceNorm} builds the
 * training, inference and instance-statistics forms, and adaptive instance normalization (AdaIN), from SameDiff ops
 * (differentiable, backend-agnostic), and {@link io.github.instancenorm.samediff.RunningStats} keeps the running
 * statistics outside the graph, updated by a listener with the layer's own rule.
 */
package io.github.instancenorm.samediff;
