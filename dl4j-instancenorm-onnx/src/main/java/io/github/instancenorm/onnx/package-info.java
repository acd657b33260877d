/**
 * PyTorch's ONNX exports into SameDiff: {@link io.github.instancenorm.onnx.OnnxModels#importGraph} runs DL4J
 * 1.0.0-M2.1's ONNX importer with this module's import hooks, after repairing in memory what M2.1 misreads
 * ({@code M21Repairs}) and folding the exports' constant shape computations ({@code ConstantFolding}).
 */
package io.github.instancenorm.onnx;
