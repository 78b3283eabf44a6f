// Picks the backend for a device setting (auto | opencl | cpu), logs the device really used once
// per JVM, and says why whenever it falls back.
package sparkgpt.kernels;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import sparkgpt.kernels.cpu.CpuBackend;
import sparkgpt.kernels.opencl.OpenClBackend;

/** The one place that turns the {@code device} setting into a {@link Backend}. */
public final class Backends {
    private Backends() {}

    // devices already logged in this JVM: one line each, not one per task
    private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

    /**
     * Opens the backend for {@code device}:
     * <ul>
     *   <li>{@code auto}: an OpenCL GPU when one is present and the kernels run on it, else cpu.
     *       An OpenCL CPU device (e.g. PoCL) is not chosen: the cpu backend is faster on CPUs.</li>
     *   <li>{@code opencl}: the best OpenCL device (GPU first, else e.g. PoCL's CPU device); fails
     *       with the reason when there is none or the kernels cannot compile or run on it.</li>
     *   <li>{@code cpu}: the pure-Java backend.</li>
     * </ul>
     *
     * @throws IllegalArgumentException for any other value
     * @throws OpenClBackend.OpenClException when {@code opencl} is requested and unavailable
     */
    public static Backend open(String device) {
        return open(device, -1);
    }

    /**
     * As {@link #open(String)}, on OpenCL device number {@code openClIndex} of
     * {@link OpenClBackend#devices()} (GPUs first) when it is &gt;= 0: the GPU a cluster manager
     * assigned to this task. {@code cpu} ignores the index; {@code auto} falls back to cpu, saying
     * why, when that device does not work.
     */
    public static Backend open(String device, int openClIndex) {
        String d = device == null ? "" : device.trim();
        Backend backend;
        if (d.equals("cpu")) {
            backend = new CpuBackend();
        } else if (d.equals("opencl")) {
            backend = OpenClBackend.open(openClIndex);
        } else if (d.equals("auto")) {
            backend = openClIndex >= 0 ? assigned(openClIndex) : auto();
        } else {
            throw new IllegalArgumentException("device=" + device + ": expected auto, opencl or cpu");
        }
        if (LOGGED.add(d + "|" + backend.device())) {
            // one line on stderr: shows in executor logs whatever the logging setup
            System.err.println("sparkgpt backend (device=" + d + ") runs on " + backend.device());
        }
        return backend;
    }

    private static Backend auto() {
        String cpuOnly = onlyPoclInstalled(System.getenv(), Path.of("/etc/OpenCL/vendors"));
        if (cpuOnly != null) {
            fallback(cpuOnly);
            return new CpuBackend();
        }
        if (!OpenClBackend.hasGpu()) {
            if (OpenClBackend.devices().isEmpty()) {
                fallback("no OpenCL platform or device");
            } else {
                fallback("no OpenCL GPU (an OpenCL CPU device is slower than the cpu backend)");
            }
            return new CpuBackend();
        }
        try {
            return OpenClBackend.open();
        } catch (OpenClBackend.OpenClException e) {
            fallback(e.getMessage());
            return new CpuBackend();
        }
    }

    /**
     * Why auto need not load OpenCL at all, or null when a GPU may be there. Loading PoCL only to list its CPU
     * device starts its pthread workers, which live until the process exits (named after the Java thread that
     * loaded it, e.g. "Executor task l") and run PoCL's code while exit() unloads it: the JVM crashed at exit
     * (SIGSEGV, exit 139) after runs whose work was done. The ICD loader finds platforms through
     * OCL_ICD_FILENAMES, else the *.icd files of OCL_ICD_VENDORS or /etc/OpenCL/vendors, each naming a library.
     */
    static String onlyPoclInstalled(Map<String, String> env, Path defaultVendors) {
        List<String> libraries = new ArrayList<>();
        String files = env.get("OCL_ICD_FILENAMES");
        Path vendors = env.containsKey("OCL_ICD_VENDORS") ? Path.of(env.get("OCL_ICD_VENDORS")) : defaultVendors;
        if (files != null && !files.isBlank()) {
            libraries.addAll(Arrays.asList(files.split(":")));
        } else if (Files.isDirectory(vendors)) {
            try (DirectoryStream<Path> icds = Files.newDirectoryStream(vendors, "*.icd")) {
                for (Path icd : icds) libraries.add(Files.readString(icd).trim());
            } catch (IOException e) {
                return null; // cannot tell: let OpenCL look
            }
        }
        if (libraries.isEmpty()) return "no OpenCL platform installed (" + vendors + ")";
        for (String lib : libraries) if (!lib.contains("pocl")) return null;
        return "the only OpenCL platform is PoCL's CPU device (" + String.join(", ", libraries) + "), slower than"
                + " the cpu backend; OpenCL not loaded";
    }

    private static Backend assigned(int index) {
        try {
            return OpenClBackend.open(index);
        } catch (OpenClBackend.OpenClException e) {
            fallback(e.getMessage());
            return new CpuBackend();
        }
    }

    private static void fallback(String reason) {
        if (LOGGED.add("fallback|" + reason)) System.err.println("sparkgpt device=auto: falling back to cpu: " + reason);
    }
}
