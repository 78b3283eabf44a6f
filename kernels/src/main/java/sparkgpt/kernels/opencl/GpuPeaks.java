// The fp32 peak of common GPUs, by the name their OpenCL driver reports: MFU's denominator when the
// executors run on OpenCL and no peak_flops is given. Figures are the vendors' datasheet numbers for
// fp32 without tensor cores (what this backend's kernels use), each entry naming its source.
package sparkgpt.kernels.opencl;

import java.util.List;
import java.util.Locale;
import java.util.Optional;

public final class GpuPeaks {
    private GpuPeaks() {}

    /** A GPU family: every word of match must appear in the reported name (case-insensitive); the first entry that matches wins. */
    public record Entry(String match, double flops, String source) {}

    /** More specific names first (H100 PCIe before H100). */
    static final List<Entry> TABLE = List.of(
            new Entry("h200 nvl", 60e12, "NVIDIA H200 NVL datasheet, fp32"),
            new Entry("h200", 67e12, "NVIDIA H200 SXM datasheet, fp32"),
            new Entry("h100 pcie", 51e12, "NVIDIA H100 PCIe datasheet, fp32"),
            new Entry("h100 nvl", 60e12, "NVIDIA H100 NVL datasheet, fp32"),
            new Entry("h100", 67e12, "NVIDIA H100 SXM datasheet, fp32"),
            new Entry("gh200", 67e12, "NVIDIA GH200 datasheet, fp32"),
            new Entry("a100", 19.5e12, "NVIDIA A100 datasheet, fp32"),
            new Entry("a10g", 31.2e12, "NVIDIA A10 datasheet, fp32 (AWS's A10G is an A10)"),
            new Entry("a10", 31.2e12, "NVIDIA A10 datasheet, fp32"),
            new Entry("l40s", 91.6e12, "NVIDIA L40S datasheet, fp32"),
            new Entry("l40", 90.5e12, "NVIDIA L40 datasheet, fp32"),
            new Entry("l4", 30.3e12, "NVIDIA L4 datasheet, fp32"),
            new Entry("v100 pcie", 14e12, "NVIDIA V100 datasheet, PCIe, fp32"),
            new Entry("v100", 15.7e12, "NVIDIA V100 datasheet, SXM2, fp32"),
            new Entry("t4", 8.1e12, "NVIDIA T4 datasheet, fp32"),
            new Entry("rtx 4090", 82.6e12, "NVIDIA Ada GPU architecture whitepaper, RTX 4090, fp32"),
            new Entry("rtx 3090", 35.6e12, "NVIDIA Ampere GA102 whitepaper, RTX 3090, fp32"),
            new Entry("rtx a6000", 38.7e12, "NVIDIA RTX A6000 datasheet, fp32"),
            new Entry("mi300x", 163.4e12, "AMD Instinct MI300X datasheet, fp32 matrix"),
            new Entry("mi250x", 47.9e12, "AMD Instinct MI250X datasheet, fp32 vector"),
            new Entry("mi210", 22.6e12, "AMD Instinct MI210 datasheet, fp32 vector"));

    /** The table's entry for an OpenCL device name (as OpenCL reports it, e.g. "NVIDIA H100 80GB HBM3"), if any. */
    public static Optional<Entry> lookup(String deviceName) {
        String name = " " + deviceName.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", " ") + " ";
        for (Entry e : TABLE) {
            boolean all = true;
            for (String word : e.match().split(" ")) all &= name.contains(" " + word + " ");
            if (all) return Optional.of(e);
        }
        return Optional.empty();
    }
}
