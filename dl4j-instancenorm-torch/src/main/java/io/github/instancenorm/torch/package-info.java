/**
 * PyTorch checkpoints on the JVM, without Python. {@link io.github.instancenorm.torch.StateDict} reads
 * {@code torch.save} files (zip and legacy) and safetensors, with an unpickler that only builds an allowlist of
 * types and never runs code, and writes both formats; {@link io.github.instancenorm.torch.TorchWeights} loads a state
 * dict into a {@code MultiLayerNetwork} or {@code ComputationGraph} as {@code load_state_dict} does, with
 * {@link io.github.instancenorm.torch.ParamMappers} saying how each DL4J layer's parameters map to PyTorch's.
 * {@link io.github.instancenorm.torch.OptimizerState} reads and writes the state dicts of {@code torch.optim.Adam}.
 */
package io.github.instancenorm.torch;
