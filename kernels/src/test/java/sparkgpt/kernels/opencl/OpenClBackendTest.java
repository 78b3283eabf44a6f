// Checks every op of the OpenCL backend against the cpu backend on the same random arrays, with
// device buffers separate from the Java arrays (discrete-GPU semantics) even on PoCL's CPU device.
package sparkgpt.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.aparapi.Kernel;
import com.aparapi.Range;
import com.aparapi.device.OpenCLDevice;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import sparkgpt.kernels.Backend;
import sparkgpt.kernels.Backends;
import sparkgpt.kernels.cpu.CpuBackend;

/**
 * Tolerance: |opencl - cpu| &lt;= 1e-4 * max(1, |cpu|) per element, over the WHOLE of every array
 * (so a write outside an op's output region fails too). The two backends sum in different orders
 * (tiles, tree reductions, per-owner loops) and use different exp/tanh implementations; with
 * inputs of order 1 and at most a few hundred terms per sum, float32 rounding stays near 1e-6
 * relative, so 1e-4 leaves a wide margin while a wrong index or a missing += is off by O(1).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS) // an out-of-range device write can hang the JVM
class OpenClBackendTest {
    static final float TOL = 1e-4f;

    // sizes: odd, not multiples of a tile or a work-group
    static final int B = 2, T = 17, C = 48, NH = 3, V = 131;
    static final int BT = B * T;

    static final String NO_DEVICE = "no OpenCL device found (install pocl-opencl-icd for a CPU device)";
    static boolean available;

    @BeforeAll
    static void requireOpenCl() {
        // must precede the JVM's first OpenCL device listing
        System.setProperty("sparkgpt.opencl.sharedMemory", "false");
        List<OpenCLDevice> devices = OpenClBackend.devices();
        if (devices.isEmpty() && "true".equalsIgnoreCase(System.getenv("CI"))) fail("CI=true: " + NO_DEVICE);
        available = !devices.isEmpty();
        for (OpenCLDevice d : devices) {
            assertFalse(d.isSharedMemory(), "sharedMemory(false) not installed on " + d.getShortDescription());
        }
    }

    /** Per test, so that a machine without OpenCL reports each test as skipped, with the reason (not "Tests run: 0"). */
    @BeforeEach
    void skipWithoutOpenCl() {
        assumeTrue(available, NO_DEVICE);
    }

    /** The same random arrays bound to an OpenCL backend and to a cpu backend. */
    static final class Pair implements AutoCloseable {
        final OpenClBackend cl = OpenClBackend.open();
        final CpuBackend cpu = new CpuBackend();
        final float[][] clF, cpuF; // params, grads, acts, gradActs, losses
        final int[][] clI, cpuI;   // inputs, targets
        int scratchFrom, scratchTo; // gradActs that the OpenCL attention backward keeps as scratch

        Pair(long seed, int p, int a, int n, int vocab) {
            Random r = new Random(seed);
            int[] sizes = {p, p, a, a, n};
            clF = new float[5][];
            cpuF = new float[5][];
            for (int i = 0; i < 5; i++) {
                clF[i] = new float[sizes[i]];
                for (int j = 0; j < sizes[i]; j++) clF[i][j] = (float) r.nextGaussian();
                cpuF[i] = clF[i].clone();
            }
            clI = new int[2][n];
            cpuI = new int[2][];
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < n; j++) clI[i][j] = r.nextInt(vocab);
                cpuI[i] = clI[i].clone();
            }
            cl.bind(clF[0], clF[1], clF[2], clF[3], clF[4], clI[0], clI[1]);
            cpu.bind(cpuF[0], cpuF[1], cpuF[2], cpuF[3], cpuF[4], cpuI[0], cpuI[1]);
        }

        /** Runs op on both backends, downloads everything and compares all five float arrays. */
        void check(String what, Consumer<Backend> op) {
            op.accept(cl);
            op.accept(cpu);
            cl.downloadActs();
            cl.downloadGradActs();
            cl.downloadGrads();
            cl.downloadLosses();
            // the cpu backend keeps its attention scratch per thread: the OpenCL one is checked through
            // the gradients computed from it
            System.arraycopy(clF[3], scratchFrom, cpuF[3], scratchFrom, scratchTo - scratchFrom);
            String[] names = {"params", "grads", "acts", "gradActs", "losses"};
            for (int i = 0; i < 5; i++) compare(what + " " + names[i], cpuF[i], clF[i]);
        }

        @Override
        public void close() {
            cl.close();
        }
    }

    static float compare(String what, float[] ref, float[] got) {
        float worst = 0f;
        int at = -1;
        for (int i = 0; i < ref.length; i++) {
            float err = Math.abs(got[i] - ref[i]) / Math.max(1f, Math.abs(ref[i]));
            if (!(err <= worst)) { // also catches NaN
                worst = err;
                at = i;
            }
        }
        if (!(worst <= TOL)) {
            fail(what + ": error " + worst + " at " + at + ": cpu " + ref[at] + ", opencl " + got[at]);
        }
        if (worst > 0) System.out.printf("%-40s max rel err %.2e%n", what, worst);
        return worst;
    }

    @Test
    void encoder() {
        try (Pair p = new Pair(1, 20_000, 5_000, BT, V)) {
            int pWte = 11, pWpe = pWte + V * C;
            p.check("encoderForward", b -> b.encoderForward(7, pWte, pWpe, B, T, C));
            // few distinct tokens: several (b,t) add into the same wte row
            for (int i = 0; i < BT; i++) p.clI[0][i] = p.cpuI[0][i] = i % 5;
            p.cl.uploadBatch();
            p.check("encoderBackward", b -> b.encoderBackward(pWte, pWpe, 13, B, T, C));
        }
    }

    @Test
    void layernorm() {
        for (int c : new int[] {C, 300}) { // 300 > one work-group: strided row loops
            int N = 35;
            try (Pair p = new Pair(2 + c, 1000, 4 * N * c + 100, N, V)) {
                int aOut = 3, aMean = aOut + N * c, aRstd = aMean + N, aInp = aRstd + N;
                p.check("layernormForward C=" + c, b -> b.layernormForward(aOut, aMean, aRstd, aInp, 5, 5 + c, N, c));
                int dInp = 1, dOut = dInp + N * c;
                p.check("layernormBackward C=" + c,
                        b -> b.layernormBackward(dInp, 9, 9 + c, dOut, aInp, 5, aMean, aRstd, N, c));
            }
        }
    }

    @Test
    void matmul() {
        // {N, C, OC}: odd sizes below one block, and sizes over several 64x64 blocks with ragged
        // edges in every dimension (K = 40 is not a multiple of the K-chunk)
        int[][] shapes = {{BT, C, 3 * C}, {BT, C, 4 * C}, {70, 64, 200}, {130, 40, 150}, {5, 3, 7}};
        for (int[] s : shapes) {
            int N = s[0], Cc = s[1], OC = s[2];
            for (boolean transposed : new boolean[] {false, true}) {
                for (boolean bias : new boolean[] {true, false}) {
                    String tag = " N=" + N + " C=" + Cc + " OC=" + OC + (transposed ? " transposed" : "") + (bias ? " bias" : "");
                    try (Pair p = new Pair(3 + N * OC, Cc * OC + OC + 100, 2 * (N * Cc + N * OC) + 50, N, V)) {
                        int pW = 17, pB = bias ? pW + Cc * OC : -1;
                        int aInp = 9, aOut = aInp + N * Cc + 3;
                        p.check("matmulForward" + tag, b -> b.matmulForward(aOut, aInp, pW, pB, N, Cc, OC, transposed));
                        int gW = 5, gB = bias ? gW + Cc * OC : -1;
                        int dInp = 2, dOut = dInp + N * Cc + 1;
                        p.check("matmulBackward" + tag,
                                b -> b.matmulBackward(dInp, gW, gB, dOut, aInp, pW, N, Cc, OC, transposed));
                    }
                }
            }
        }
    }

    @Test
    void attention() {
        int scratch = 2 * B * NH * T * T;
        try (Pair p = new Pair(4, 100, 3 * BT * C + BT * C + 2 * B * NH * T + scratch + 100, BT, V)) {
            int aQkv = 5, aOut = aQkv + 3 * BT * C, aStats = aOut + BT * C;
            p.check("attentionForward", b -> b.attentionForward(aOut, aStats, aQkv, B, T, C, NH));
            // backward: dqkv accumulates; the probabilities are recomputed from qkv and the stats
            int dQkv = 3, dOut = dQkv + 3 * BT * C, dScratch = dOut + BT * C;
            assertEquals(scratch, p.cl.attentionScratch(B, T, C, NH));
            assertEquals(0, p.cpu.attentionScratch(B, T, C, NH));
            p.scratchFrom = dScratch;
            p.scratchTo = dScratch + scratch;
            p.check("attentionBackward", b -> b.attentionBackward(dQkv, dScratch, dOut, aQkv, aOut, aStats, B, T, C, NH));
        }
    }

    @Test
    void geluAndResidual() {
        int n = 1000 + 3; // not a multiple of the work-group size
        try (Pair p = new Pair(5, 10, 4 * n, 4, V)) {
            p.check("geluForward", b -> b.geluForward(1, 2 + n, n));
            p.check("geluBackward", b -> b.geluBackward(0, 2 + n, 3 + 2 * n, n));
            p.check("residualForward", b -> b.residualForward(1, 2 + n, 3 + 2 * n, n));
        }
    }

    @Test
    void crossEntropy() {
        for (int v : new int[] {V, 1000}) { // 1000 > one work-group
            int N = BT;
            try (Pair p = new Pair(6 + v, 10, 2 * N * v + 20, N, v)) {
                p.check("crossEntropyForward V=" + v, b -> b.crossEntropyForward(3, N, v));
                p.check("crossEntropyBackward V=" + v, b -> b.crossEntropyBackward(7 + N * v, 3, 1f / N, N, v));
            }
        }
    }

    @Test
    void zeroing() {
        try (Pair p = new Pair(7, 1001, 2003, 4, V)) {
            p.check("zeroGrads", Backend::zeroGrads);
            p.check("zeroGradActs", b -> b.zeroGradActs(100, 1500));
            p.check("zeroGradActs (all)", b -> b.zeroGradActs(0, 2003));
        }
    }

    @Test
    void fullStep() {
        // one GPT-2 block, llm.c's order: forward, loss, backward, twice (grads accumulate)
        GptLayout m = new GptLayout(B, T, C, NH, V);
        try (Pair p = new Pair(8, m.numParams, m.numActs, BT, V)) {
            p.scratchFrom = m.attScratch;
            p.scratchTo = m.attScratch + m.attScratchSize;
            for (float[][] f : new float[][][] {p.clF, p.cpuF}) {
                for (int i = 0; i < m.numParams; i++) f[0][i] *= 0.1f; // GPT-2-like weight scale
                java.util.Arrays.fill(f[1], 0f);
            }
            p.cl.uploadParams();
            p.cl.uploadGrads();
            for (int step = 0; step < 2; step++) {
                p.check("full forward+backward " + step, m::forwardBackward);
            }
            float loss = 0f;
            for (float l : p.cpuF[4]) loss += l;
            loss /= BT;
            // random init: the loss is near ln(V) = 4.88
            assertTrue(loss > 3.5f && loss < 7f, "mean loss " + loss);
        }
    }

    @Test
    void launchOverhead() {
        // not a benchmark: prints the per-launch cost of a small op (PoCL: tens of microseconds)
        try (Pair p = new Pair(10, 10, 3000, 4, V)) {
            for (int i = 0; i < 50; i++) p.cl.residualForward(0, 1000, 2000, 1000);
            int launches = 500;
            long t0 = System.nanoTime();
            for (int i = 0; i < launches; i++) p.cl.residualForward(0, 1000, 2000, 1000);
            long perLaunch = (System.nanoTime() - t0) / launches;
            System.out.println("launch overhead (residualForward n=1000, incl. device check): " + perLaunch / 1000 + " us");
            assertTrue(perLaunch < 50_000_000L, "a 1000-element launch took " + perLaunch + " ns");
        }
    }

    @Test
    void backendsReportsTheDeviceReallyUsed() {
        try (Backend b = Backends.open("opencl")) {
            assertEquals("opencl", b.name());
            assertTrue(b.device().startsWith("opencl: "), b.device());
            assertTrue(b.device().contains("device buffers"), b.device());
        }
        try (Backend b = Backends.open("auto")) {
            // auto takes an OpenCL GPU only; an OpenCL CPU device (PoCL) loses to the cpu backend
            assertEquals(OpenClBackend.hasGpu() ? "opencl" : "cpu", b.name());
        }
        try (Backend b = Backends.open("cpu")) {
            assertEquals("cpu", b.name());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.open("gpu"));
        assertTrue(e.getMessage().contains("device=gpu") && e.getMessage().contains("auto, opencl or cpu"),
                e.getMessage());
        OpenClBackend.OpenClException missing = assertThrows(OpenClBackend.OpenClException.class,
                () -> OpenClBackend.open(99));
        assertTrue(missing.getMessage().contains("out of range"), missing.getMessage());
    }

    @Test
    void anAssignedDeviceIndexIsTheDeviceOpened() {
        // the index a cluster manager's GPU address maps to (see the driver's TaskGpu)
        OpenCLDevice last = OpenClBackend.devices().get(OpenClBackend.devices().size() - 1);
        try (Backend b = Backends.open("opencl", OpenClBackend.devices().size() - 1)) {
            assertTrue(b.device().contains(last.getName().trim()), b.device() + " vs " + last.getName());
        }
        try (Backend b = Backends.open("cpu", 0)) {
            assertEquals("cpu", b.name());
        }
        // auto with an index that does not work falls back to cpu; opencl fails with the reason
        try (Backend b = Backends.open("auto", 99)) {
            assertEquals("cpu", b.name());
        }
        assertThrows(OpenClBackend.OpenClException.class, () -> Backends.open("opencl", 99));
        assertEquals(OpenClBackend.hasGpu(), OpenClBackend.gpuCount() > 0);
    }

    /** A kernel for the detection test: Aparapi is told to run it in Java threads. */
    static final class Probe extends Kernel {
        float[] out = new float[64];

        @Override
        public void run() {
            out[getGlobalId()] = getGlobalId();
        }
    }

    @Test
    @SuppressWarnings("deprecation") // EXECUTION_MODE is the only switch to force Java threads
    void javaThreadFallbackIsDetected() {
        OpenCLDevice device = OpenClBackend.devices().get(0);
        Probe onDevice = new Probe();
        Probe inThreads = new Probe();
        try {
            onDevice.execute(Range.create(device, 64, 64));
            OpenClBackend.requireRanOn(onDevice, device, "probe"); // ran on OpenCL: passes
            inThreads.setExecutionModeWithoutFallback(Kernel.EXECUTION_MODE.JTP);
            inThreads.execute(64);
            assertEquals(63f, inThreads.out[63]); // it did run, in Java threads
            OpenClBackend.OpenClException e = assertThrows(OpenClBackend.OpenClException.class,
                    () -> OpenClBackend.requireRanOn(inThreads, device, "probe"));
            assertTrue(e.getMessage().contains("op probe did not run on"), e.getMessage());
        } finally {
            onDevice.dispose();
            inThreads.dispose();
        }
    }

    @Test
    @SuppressWarnings("deprecation")
    void backendFailsLoudlyWhenItsKernelRunsInJavaThreads() {
        try (Pair p = new Pair(9, 100, 100, 4, V)) {
            p.cl.kernel.setExecutionModeWithoutFallback(Kernel.EXECUTION_MODE.JTP);
            OpenClBackend.OpenClException e = assertThrows(OpenClBackend.OpenClException.class,
                    () -> p.cl.residualForward(0, 10, 20, 10));
            // Aparapi either refuses (the device is OpenCL, the mode JTP) or runs in Java threads;
            // both must end in an OpenClException naming the op
            assertTrue(e.getMessage().contains("op residualForward"), e.getMessage());
            System.out.println("fallback message: " + e.getMessage());
        }
    }
}
