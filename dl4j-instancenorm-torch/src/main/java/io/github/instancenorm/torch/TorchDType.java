package io.github.instancenorm.torch;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * The tensor element types this package reads and writes, with their names in the three
 * vocabularies involved: the PyTorch storage class of the pickle ({@code torch.FloatStorage}),
 * the safetensors dtype code ({@code F32}) and the ND4J {@link DataType}.
 */
enum TorchDType {
    /** torch.float32 */
    FLOAT32("FloatStorage", "F32", DataType.FLOAT, 4),
    /** torch.float64 */
    FLOAT64("DoubleStorage", "F64", DataType.DOUBLE, 8),
    /** torch.float16 */
    FLOAT16("HalfStorage", "F16", DataType.HALF, 2),
    /** torch.bfloat16 */
    BFLOAT16("BFloat16Storage", "BF16", DataType.BFLOAT16, 2),
    /** torch.int64 */
    INT64("LongStorage", "I64", DataType.LONG, 8),
    /** torch.int32 */
    INT32("IntStorage", "I32", DataType.INT, 4),
    /** torch.int16 */
    INT16("ShortStorage", "I16", DataType.SHORT, 2),
    /** torch.int8 */
    INT8("CharStorage", "I8", DataType.BYTE, 1),
    /** torch.uint8 */
    UINT8("ByteStorage", "U8", DataType.UBYTE, 1),
    /** torch.bool */
    BOOL("BoolStorage", "BOOL", DataType.BOOL, 1);

    private final String storageClass;
    private final String safetensorsCode;
    private final DataType nd4j;
    private final int size;

    TorchDType(String storageClass, String safetensorsCode, DataType nd4j, int size) {
        this.storageClass = storageClass;
        this.safetensorsCode = safetensorsCode;
        this.nd4j = nd4j;
        this.size = size;
    }

    /** @return the storage class name in module {@code torch}, e.g. {@code FloatStorage} */
    String storageClass() {
        return storageClass;
    }

    /** @return the safetensors dtype code, e.g. {@code F32} */
    String safetensorsCode() {
        return safetensorsCode;
    }

    /** @return the ND4J data type holding the same values */
    DataType nd4j() {
        return nd4j;
    }

    /** @return bytes per element */
    int elementSize() {
        return size;
    }

    /**
     * @param name storage class name without module, e.g. {@code HalfStorage}
     * @return the dtype, or null when the name is not a supported storage class
     */
    static TorchDType ofStorageClass(String name) {
        for (TorchDType t : values()) {
            if (t.storageClass.equals(name)) {
                return t;
            }
        }
        return null;
    }

    /**
     * @param code safetensors dtype code
     * @return the dtype, or null when unsupported
     */
    static TorchDType ofSafetensors(String code) {
        for (TorchDType t : values()) {
            if (t.safetensorsCode.equals(code)) {
                return t;
            }
        }
        return null;
    }

    /**
     * @param type an ND4J data type
     * @return the matching dtype
     * @throws TorchFormatException when PyTorch has no equivalent ND4J can hold (e.g. UTF8)
     */
    static TorchDType of(DataType type) throws TorchFormatException {
        for (TorchDType t : values()) {
            if (t.nd4j == type) {
                return t;
            }
        }
        throw new TorchFormatException("ND4J data type " + type + " has no PyTorch equivalent; cast the array"
                + " to FLOAT, DOUBLE, HALF, BFLOAT16, LONG, INT, SHORT, BYTE, UBYTE or BOOL first");
    }
}
