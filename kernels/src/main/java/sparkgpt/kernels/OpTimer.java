// Wraps a backend to time every op by name, for benchmarks: where does a step's time go.
package sparkgpt.kernels;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.TreeMap;

/** Accumulated wall time and call count per Backend method. Not for production steps. */
public final class OpTimer {
    private final Map<String, long[]> totals = new TreeMap<>();

    /** A backend that forwards every call to inner and records its duration here. */
    public Backend wrap(Backend inner) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> {
                    long t0 = System.nanoTime();
                    try {
                        return method.invoke(inner, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    } finally {
                        long[] t = totals.computeIfAbsent(method.getName(), k -> new long[2]);
                        t[0] += System.nanoTime() - t0;
                        t[1]++;
                    }
                });
    }

    public void reset() {
        totals.clear();
    }

    /** One line per op, slowest first: total ms, calls, share of the timed total. */
    public String report() {
        long all = totals.values().stream().mapToLong(t -> t[0]).sum();
        StringBuilder sb = new StringBuilder();
        totals.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0])).forEach(e ->
                sb.append(String.format("  %-22s %9.1f ms %6d calls %5.1f%%%n", e.getKey(), e.getValue()[0] / 1e6,
                        e.getValue()[1], 100.0 * e.getValue()[0] / Math.max(1, all))));
        return sb.toString();
    }
}
