/**
 * PyTorch's ONNX exports into SameDiff: {@link io.github.instancenorm.onnx.OnnxModels#importGraph} checks the file
 * ({@code ModelChecks}), repairs in memory what DL4J 1.0.0-M2.1's ONNX importer misreads ({@code M21Repairs}), folds
 * the exports' constant shape computations ({@code ConstantFolding}) and runs M2.1's importer with this module's
 * import hooks; a file it cannot import is an {@link io.github.instancenorm.onnx.OnnxFormatException}.
 */
package io.github.instancenorm.onnx;
