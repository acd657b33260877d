/**
 * The CPU kernels of {@link io.github.instancenorm.ops.InstanceNorm}: the same math as its ND4J-op form in fused Java
 * loops over host memory, for float and double contiguous arrays on ND4J's CPU backend. Registered through
 * {@link io.github.instancenorm.ops.KernelDispatch}; not an API. The runtime they stand on (threads, the system
 * properties, host-array checks) is {@code io.github.instancenorm.runtime}.
 */
package io.github.instancenorm.ops.cpu;
