// The GPU peak table: names as NVIDIA's OpenCL driver reports them find their datasheet figure; others find none.
package sparkgpt.kernels.opencl;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class GpuPeaksTest {
    @Test
    void reportedNamesFindTheirFamily() {
        assertEquals(67e12, GpuPeaks.lookup("NVIDIA H100 80GB HBM3").orElseThrow().flops());
        assertEquals(51e12, GpuPeaks.lookup("NVIDIA H100 PCIe").orElseThrow().flops());
        assertEquals(67e12, GpuPeaks.lookup("NVIDIA H200").orElseThrow().flops());
        assertEquals(19.5e12, GpuPeaks.lookup("NVIDIA A100-SXM4-80GB").orElseThrow().flops());
        assertEquals(15.7e12, GpuPeaks.lookup("Tesla V100-SXM2-16GB").orElseThrow().flops());
        assertEquals(8.1e12, GpuPeaks.lookup("Tesla T4").orElseThrow().flops());
        assertEquals(30.3e12, GpuPeaks.lookup("NVIDIA L4").orElseThrow().flops());
        assertEquals(91.6e12, GpuPeaks.lookup("NVIDIA L40S").orElseThrow().flops());
        assertTrue(GpuPeaks.lookup("NVIDIA H100 80GB HBM3").orElseThrow().source().contains("datasheet"));
    }

    @Test
    void unknownDevicesFindNothing() {
        assertTrue(GpuPeaks.lookup("cpu-haswell-Intel(R) Xeon(R) Platinum 8481C").isEmpty()); // PoCL on a CPU
        assertTrue(GpuPeaks.lookup("NVIDIA GeForce GTX 1080").isEmpty());
        assertTrue(GpuPeaks.lookup("NVIDIA L40").isPresent() && GpuPeaks.lookup("NVIDIA L4").orElseThrow().flops() == 30.3e12);
    }
}
