/**
 * Import hooks for M2.1's ONNX importer: {@code InstanceNormalization} as
 * {@link io.github.instancenorm.samediff.SDInstanceNorm#instanceStats}, {@code ConvTranspose} as {@code deconv2d},
 * {@code BatchNormalization} in its training form, {@code Pad}, and {@code Gemm} with its bias. Public because the
 * importer instantiates them by reflection; {@link io.github.instancenorm.onnx.OnnxModels} registers them, and
 * nothing else should call them.
 */
package io.github.instancenorm.onnx.hooks;
