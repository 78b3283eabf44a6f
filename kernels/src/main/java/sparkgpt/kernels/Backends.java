// Picks the backend for a device setting (auto | opencl | cpu), logs the device really used once
// per JVM, and says why whenever it falls back.
package sparkgpt.kernels;

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
