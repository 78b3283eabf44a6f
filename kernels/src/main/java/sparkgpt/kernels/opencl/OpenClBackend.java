// The Aparapi/OpenCL backend: the model's seven arrays on one OpenCL device, one op-switch kernel,
// host<->device copies only in the transfer methods, and a loud failure instead of Aparapi's
// silent fallback to Java threads.
package sparkgpt.kernels.opencl;

import com.aparapi.Kernel;
import com.aparapi.Range;
import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import com.aparapi.exception.CompileFailedException;
import com.aparapi.internal.kernel.KernelDeviceProfile;
import com.aparapi.internal.kernel.KernelManager;
import com.aparapi.internal.kernel.KernelProfile;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import sparkgpt.kernels.Backend;

/**
 * Runs the layer set on one OpenCL device through {@link OpKernel}. Open it with {@link #open(int)};
 * a kernel that cannot compile for the device, or that ran anywhere but on it, throws
 * {@link OpenClException} naming the op and the reason.
 *
 * <p>System properties: {@code sparkgpt.opencl.sharedMemory=false} makes every device use
 * separate device buffers (what a discrete GPU does) even where the driver could share host
 * memory, as PoCL's CPU device does; tests set it so that a missing transfer shows up on a CPU.
 * It must be set before the JVM's first OpenCL device listing.
 *
 * <p>Not thread-safe: one backend per thread (Aparapi gives wrong results when one kernel object
 * is launched from two threads).
 */
public final class OpenClBackend implements Backend {

    /** Every failure to set up or run the OpenCL path: no platform, no device, compile or run failure. */
    public static final class OpenClException extends RuntimeException {
        public OpenClException(String message) {
            super(message);
        }

        public OpenClException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private static final String SHARED_MEMORY_PROPERTY = "sparkgpt.opencl.sharedMemory";
    private static volatile boolean configured;

    private final OpenCLDevice device;
    final OpKernel kernel = new OpKernel(); // package-private: tests force a Java-thread run
    private final int group;    // work-group size of 1D and row ops
    private boolean launched;   // the kernel has run once: device buffers exist

    private OpenClBackend(OpenCLDevice device) {
        this.device = device;
        this.group = OpKernel.GROUP;
        // explicit buffer mode must be set before the first launch; later calls are ignored
        kernel.setExplicit(true);
        LinkedHashSet<Device> only = new LinkedHashSet<>();
        only.add(device);
        KernelManager.instance().setPreferredDevices(kernel, only);
    }

    /**
     * Installs the device configurator once per JVM, before any device is listed: with
     * {@code -Dsparkgpt.opencl.sharedMemory=false} devices use separate device buffers.
     */
    static synchronized void configure() {
        if (configured) return;
        String shared = System.getProperty(SHARED_MEMORY_PROPERTY);
        if (shared != null) {
            if (!shared.equals("true") && !shared.equals("false")) {
                throw new IllegalArgumentException(SHARED_MEMORY_PROPERTY + "=" + shared + ": expected true or false");
            }
            boolean value = Boolean.parseBoolean(shared);
            OpenCLDevice.setConfigurator(d -> d.setSharedMemory(value));
        }
        configured = true;
    }

    /**
     * The OpenCL devices of all platforms, GPUs first, then by compute units (the order
     * {@link #open(int)} indexes). Empty when there is no OpenCL platform.
     */
    public static synchronized List<OpenCLDevice> devices() {
        // Listed once per JVM, under a lock: Aparapi's native platform query is not thread-safe
        // (two Spark tasks listing at once crashed the JVM in OpenCLJNI.getPlatforms).
        if (deviceList == null) deviceList = List.copyOf(listDevices());
        return deviceList;
    }

    private static List<OpenCLDevice> deviceList;

    private static List<OpenCLDevice> listDevices() {
        configure();
        List<OpenCLDevice> all = new ArrayList<>();
        try {
            for (Device.TYPE type : new Device.TYPE[] {Device.TYPE.GPU, Device.TYPE.ACC, Device.TYPE.CPU}) {
                List<OpenCLDevice> found = OpenCLDevice.listDevices(type);
                if (found != null) all.addAll(found);
            }
        } catch (LinkageError | RuntimeException e) {
            // no OpenCL library or ICD loader, or Aparapi's native part could not load
            return List.of();
        }
        all.sort(Comparator.comparingInt((OpenCLDevice d) -> d.getType() == Device.TYPE.GPU ? 0 : 1)
                .thenComparing(Comparator.comparingInt(OpenCLDevice::getMaxComputeUnits).reversed()));
        return all;
    }

    /** How many OpenCL GPUs are present: they are devices 0..gpuCount()-1 of {@link #devices()}. */
    public static int gpuCount() {
        return (int) devices().stream().filter(d -> d.getType() == Device.TYPE.GPU).count();
    }

    /** True when at least one OpenCL GPU is present. */
    public static boolean hasGpu() {
        return devices().stream().anyMatch(d -> d.getType() == Device.TYPE.GPU);
    }

    /** Opens the best device: a GPU when there is one, else any OpenCL device (e.g. PoCL's CPU device). */
    public static OpenClBackend open() {
        return open(-1);
    }

    /**
     * Opens device number {@code index} of {@link #devices()}, or the best one when index &lt; 0,
     * and compiles the kernel for it.
     *
     * @throws OpenClException with the reason when there is no such device or the kernel does not compile
     */
    public static synchronized OpenClBackend open(int index) { // one native compile at a time
        List<OpenCLDevice> all = devices();
        if (all.isEmpty()) {
            throw new OpenClException("no OpenCL device: no OpenCL platform found (install a driver or an ICD "
                    + "such as pocl-opencl-icd; `clinfo -l` lists what the JVM can see)");
        }
        if (index >= all.size()) {
            throw new OpenClException("OpenCL device index " + index + " out of range: found " + all.size()
                    + " device(s): " + describeAll(all));
        }
        OpenCLDevice device = all.get(Math.max(index, 0));
        if (device.getMaxWorkGroupSize() < OpKernel.GEMM_ITEMS) {
            throw new OpenClException(describe(device) + ": max work-group size " + device.getMaxWorkGroupSize()
                    + " < " + OpKernel.GEMM_ITEMS + " needed by the tiled matmul");
        }
        OpenClBackend backend = new OpenClBackend(device);
        try {
            backend.kernel.compile(device);
        } catch (CompileFailedException | RuntimeException e) {
            backend.close();
            throw new OpenClException("the OpenCL kernel " + OpKernel.class.getSimpleName() + " did not compile on "
                    + describe(device) + ": " + e.getMessage(), e);
        }
        try {
            selfTest(device);
        } catch (RuntimeException | AssertionError e) {
            backend.close();
            throw new OpenClException("the OpenCL kernel " + OpKernel.class.getSimpleName() + " compiled but did not run on "
                    + describe(device) + ": " + e.getMessage(), e);
        }
        return backend;
    }

    /**
     * Runs a 3x3 tiled matmul on tiny arrays in a throwaway kernel object (its own context), so
     * that open() fails, and device=auto can fall back, before the model's arrays are bound.
     */
    private static void selfTest(OpenCLDevice device) {
        OpenClBackend probe = new OpenClBackend(device);
        try {
            float[] params = {1, 2, 3, 4, 5, 6, 7, 8, 9};   // W [3,3]
            float[] acts = new float[18];
            acts[0] = 1;                                     // inp = identity [3,3]; out at 9
            acts[4] = 1;
            acts[8] = 1;
            probe.bind(params, new float[1], acts, new float[1], new float[1], new int[1], new int[1]);
            probe.matmulForward(9, 0, 0, -1, 3, 3, 3, false);
            probe.downloadActs();
            for (int i = 0; i < 9; i++) {
                if (acts[9 + i] != params[i]) {
                    throw new OpenClException("self-test matmul gave " + acts[9 + i] + " at " + i + ", expected " + params[i]);
                }
            }
        } finally {
            probe.close();
        }
    }

    private static String describeAll(List<OpenCLDevice> all) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < all.size(); i++) {
            if (i > 0) sb.append("; ");
            sb.append(i).append(": ").append(describe(all.get(i)));
        }
        return sb.toString();
    }

    /** The device name in a {@link #describe} string ("opencl: NAME (vendor, ...)"), or null for another backend's. */
    public static String deviceName(String described) {
        if (described == null || !described.startsWith("opencl: ")) return null;
        int paren = described.indexOf(" (");
        return described.substring("opencl: ".length(), paren > 0 ? paren : described.length()).trim();
    }

    static String describe(OpenCLDevice d) {
        return "opencl: " + d.getName().trim() + " (" + d.getOpenCLPlatform().getVendor().trim() + ", "
                + d.getType() + ", " + d.getMaxComputeUnits() + " compute units, "
                + d.getLocalMemSize() / 1024 + " KB local memory, "
                + (d.isSharedMemory() ? "shared host memory" : "device buffers") + ")";
    }

    /** The Aparapi device this backend launches on. */
    public OpenCLDevice openClDevice() {
        return device;
    }

    @Override
    public String name() {
        return "opencl";
    }

    @Override
    public String device() {
        return describe(device);
    }

    @Override
    public void bind(float[] params, float[] grads, float[] acts, float[] gradActs,
                     float[] losses, int[] inputs, int[] targets) {
        if (launched) throw new IllegalStateException("bind() must be called once, before any op");
        kernel.params = params;
        kernel.grads = grads;
        kernel.acts = acts;
        kernel.gradActs = gradActs;
        kernel.losses = losses;
        kernel.inputs = inputs;
        kernel.targets = targets;
        // the device buffers are created from these arrays at the first launch; queue them all
        kernel.put(params).put(grads).put(acts).put(gradActs).put(losses).put(inputs).put(targets);
    }

    // ---- data movement: put() is queued until the next launch; get() copies now ----

    @Override
    public boolean readsHostParams() {
        return false;
    }

    @Override
    public void uploadParams() {
        kernel.put(kernel.params);
    }

    @Override
    public void uploadBatch() {
        kernel.put(kernel.inputs).put(kernel.targets);
    }

    @Override
    public void downloadLosses() {
        get(kernel.losses);
    }

    @Override
    public void downloadGrads() {
        get(kernel.grads);
    }

    @Override
    public void uploadGrads() {
        kernel.put(kernel.grads);
    }

    @Override
    public void downloadActs() {
        get(kernel.acts);
    }

    @Override
    public void downloadGradActs() {
        get(kernel.gradActs);
    }

    @Override
    public void uploadActs() {
        kernel.put(kernel.acts);
    }

    @Override
    public void uploadGradActs() {
        kernel.put(kernel.gradActs);
    }

    private void get(float[] array) {
        // before the first launch the device holds nothing newer than the host
        if (launched) kernel.get(array);
    }

    @Override
    public void zeroGrads() {
        zero(OpKernel.GRADS, 0, kernel.grads.length);
    }

    @Override
    public void zeroGradActs(int dOff, int n) {
        zero(OpKernel.GRAD_ACTS, dOff, n);
    }

    private void zero(int array, int off, int n) {
        OpKernel k = kernel;
        k.o0 = array;
        k.o1 = off;
        k.dN = n;
        launch1(OpKernel.ZERO, "zero", n);
    }

    // ---- forward ----

    @Override
    public void encoderForward(int aOut, int pWte, int pWpe, int B, int T, int C) {
        OpKernel k = kernel;
        k.o0 = aOut;
        k.o1 = pWte;
        k.o2 = pWpe;
        setBTC(B, T, C);
        launch1(OpKernel.ENCODER_FORWARD, "encoderForward", B * T * C);
    }

    @Override
    public void layernormForward(int aOut, int aMean, int aRstd, int aInp, int pWeight, int pBias, int N, int C) {
        OpKernel k = kernel;
        k.o0 = aOut;
        k.o1 = aMean;
        k.o2 = aRstd;
        k.o3 = aInp;
        k.o4 = pWeight;
        k.o5 = pBias;
        k.dN = N;
        k.dC = C;
        launchRows(OpKernel.LAYERNORM_FORWARD, "layernormForward", N);
    }

    @Override
    public void matmulForward(int aOut, int aInp, int pWeight, int pBias, int N, int C, int OC, boolean transposedWeight) {
        // out (N,OC) = inp (N,C) . W: A(n,c) = inp, B(c,oc) = W[c,oc] or W[oc,c]
        gemm("matmulForward", N, OC, C,
                OpKernel.ACTS, aInp, C, 1,
                OpKernel.PARAMS, pWeight, transposedWeight ? 1 : OC, transposedWeight ? C : 1,
                OpKernel.ACTS, aOut, OC, false, pBias);
    }

    @Override
    public void attentionForward(int aOut, int aStats, int aQkv, int B, int T, int C, int NH) {
        checkHeads(C, NH);
        OpKernel k = kernel;
        k.o0 = aOut;
        k.o1 = aStats;
        k.o3 = aQkv;
        setBTC(B, T, C);
        k.dNH = NH;
        launch1(OpKernel.ATTENTION_FORWARD, "attentionForward", B * NH * T);
    }

    @Override
    public void geluForward(int aOut, int aInp, int n) {
        OpKernel k = kernel;
        k.o0 = aOut;
        k.o1 = aInp;
        k.dN = n;
        launch1(OpKernel.GELU_FORWARD, "geluForward", n);
    }

    @Override
    public void residualForward(int aOut, int aIn1, int aIn2, int n) {
        OpKernel k = kernel;
        k.o0 = aOut;
        k.o1 = aIn1;
        k.o2 = aIn2;
        k.dN = n;
        launch1(OpKernel.RESIDUAL_FORWARD, "residualForward", n);
    }

    @Override
    public void crossEntropyForward(int aLogits, int N, int V) {
        OpKernel k = kernel;
        k.o0 = aLogits;
        k.dN = N;
        k.dC = V;
        launchRows(OpKernel.CROSSENTROPY_FORWARD, "crossEntropyForward", N);
    }

    // ---- backward ----

    @Override
    public void crossEntropyBackward(int dLogits, int aProbs, float dloss, int N, int V) {
        OpKernel k = kernel;
        k.o0 = dLogits;
        k.o1 = aProbs;
        k.f0 = dloss;
        k.dN = N;
        k.dC = V;
        launch1(OpKernel.CROSSENTROPY_BACKWARD, "crossEntropyBackward", Math.multiplyExact(N, V));
    }

    @Override
    public void matmulBackward(int dInp, int gWeight, int gBias, int dOut, int aInp, int pWeight,
                               int N, int C, int OC, boolean transposedWeight) {
        // dinp (N,C) = dout (N,OC) . W^T, overwritten: A(n,oc) = dout, B(oc,c) = W[c,oc] or W[oc,c]
        gemm("matmulBackward(dinp)", N, C, OC,
                OpKernel.GRAD_ACTS, dOut, OC, 1,
                OpKernel.PARAMS, pWeight, transposedWeight ? C : 1, transposedWeight ? 1 : OC,
                OpKernel.GRAD_ACTS, dInp, C, false, -1);
        if (transposedWeight) {
            // dW [OC,C] += dout^T . inp: A(oc,n) = dout, B(n,c) = inp
            gemm("matmulBackward(dweight)", OC, C, N,
                    OpKernel.GRAD_ACTS, dOut, 1, OC,
                    OpKernel.ACTS, aInp, C, 1,
                    OpKernel.GRADS, gWeight, C, true, -1);
        } else {
            // dW [C,OC] += inp^T . dout: A(c,n) = inp, B(n,oc) = dout
            gemm("matmulBackward(dweight)", C, OC, N,
                    OpKernel.ACTS, aInp, 1, C,
                    OpKernel.GRAD_ACTS, dOut, OC, 1,
                    OpKernel.GRADS, gWeight, OC, true, -1);
        }
        if (gBias >= 0) {
            OpKernel k = kernel;
            k.o0 = gBias;
            k.o1 = dOut;
            k.dN = N;
            k.dC = OC;
            launch1(OpKernel.BIAS_BACKWARD, "matmulBackward(dbias)", OC);
        }
    }

    @Override
    public void layernormBackward(int dInp, int gWeight, int gBias, int dOut, int aInp, int pWeight,
                                  int aMean, int aRstd, int N, int C) {
        OpKernel k = kernel;
        k.o0 = dInp;
        k.o1 = dOut;
        k.o2 = aInp;
        k.o3 = pWeight;
        k.o4 = aMean;
        k.o5 = aRstd;
        k.dN = N;
        k.dC = C;
        launchRows(OpKernel.LAYERNORM_BACKWARD_DINP, "layernormBackward(dinp)", N);
        k.o0 = gWeight;
        k.o1 = gBias;
        k.o2 = dOut;
        k.o3 = aInp;
        k.o4 = aMean;
        k.o5 = aRstd;
        launch1(OpKernel.LAYERNORM_BACKWARD_DWEIGHT, "layernormBackward(dweight)", C);
    }

    @Override
    public int attentionScratch(int B, int T, int C, int NH) {
        // one layer's probabilities and dpreatt (B,NH,T,T), recomputed in attentionBackward(dq) for attentionBackward(dkv)
        return Math.toIntExact(2L * B * NH * T * T);
    }

    @Override
    public void attentionBackward(int dQkv, int dScratch, int dOut, int aQkv, int aOut, int aStats,
                                  int B, int T, int C, int NH) {
        checkHeads(C, NH);
        OpKernel k = kernel;
        k.o0 = dQkv;
        k.o1 = dScratch;
        k.o2 = dOut;
        k.o3 = aQkv;
        k.o4 = aOut;
        k.o5 = aStats;
        setBTC(B, T, C);
        k.dNH = NH;
        launch1(OpKernel.ATTENTION_BACKWARD_DQ, "attentionBackward(dq)", B * NH * T);
        launch1(OpKernel.ATTENTION_BACKWARD_DKV, "attentionBackward(dkv)", B * T * C);
    }

    @Override
    public void geluBackward(int dInp, int aInp, int dOut, int n) {
        OpKernel k = kernel;
        k.o0 = dInp;
        k.o1 = aInp;
        k.o2 = dOut;
        k.dN = n;
        launch1(OpKernel.GELU_BACKWARD, "geluBackward", n);
    }

    @Override
    public void encoderBackward(int gWte, int gWpe, int dOut, int B, int T, int C) {
        OpKernel k = kernel;
        k.o0 = gWte;
        k.o1 = gWpe;
        k.o2 = dOut;
        setBTC(B, T, C);
        launch1(OpKernel.ENCODER_BACKWARD, "encoderBackward", C + T * C);
    }

    @Override
    public void close() {
        // Aparapi 3.0.2's dispose() of a kernel that was compiled but never launched crashed the
        // JVM here (SIGSEGV in disposeJNI); such a kernel holds only its compiled program, so it
        // is left to the JVM's exit.
        if (launched) kernel.dispose();
    }

    // ---- launching ----

    private void setBTC(int B, int T, int C) {
        kernel.dB = B;
        kernel.dT = T;
        kernel.dC = C;
    }

    private static void checkHeads(int C, int NH) {
        if (NH <= 0 || C % NH != 0) {
            throw new IllegalArgumentException("C=" + C + " is not a multiple of NH=" + NH);
        }
    }

    private void gemm(String what, int M, int N, int K,
                      int aArr, int aOff, int aRs, int aCs,
                      int bArr, int bOff, int bRs, int bCs,
                      int cArr, int cOff, int cRs, boolean accumulate, int biasOff) {
        OpKernel k = kernel;
        k.gM = M;
        k.gN = N;
        k.gK = K;
        k.aArr = aArr;
        k.aOff = aOff;
        k.aRs = aRs;
        k.aCs = aCs;
        k.bArr = bArr;
        k.bOff = bOff;
        k.bRs = bRs;
        k.bCs = bCs;
        k.cArr = cArr;
        k.cOff = cOff;
        k.cRs = cRs;
        k.accumulate = accumulate ? 1 : 0;
        k.biasOff = biasOff;
        if (M == 0 || N == 0) return;
        int lx = OpKernel.BN / OpKernel.TN, ly = OpKernel.BM / OpKernel.TM;
        launch(OpKernel.GEMM, what, Range.create2D(device, roundUp(N, OpKernel.BN) / OpKernel.TN,
                roundUp(M, OpKernel.BM) / OpKernel.TM, lx, ly));
    }

    /** One work item per element, n items padded to whole work-groups (the kernel guards i &lt; n). */
    private void launch1(int op, String what, int n) {
        if (n <= 0) return;
        launch(op, what, Range.create(device, roundUp(n, group), group));
    }

    /** One work-group per row. */
    private void launchRows(int op, String what, int rows) {
        if (rows <= 0) return;
        launch(op, what, Range.create(device, Math.multiplyExact(rows, group), group));
    }

    private static int roundUp(int n, int m) {
        return Math.multiplyExact((n + m - 1) / m, m);
    }

    private void launch(int op, String what, Range range) {
        if (kernel.params == null) throw new IllegalStateException("bind() the arrays before running " + what);
        kernel.op = op;
        try {
            kernel.execute(range);
        } catch (RuntimeException | AssertionError e) {
            throw new OpenClException("kernel " + OpKernel.class.getSimpleName() + " op " + what + " failed on "
                    + device.getShortDescription() + ": " + e.getMessage(), e);
        }
        launched = true;
        requireRanOn(kernel, device, what);
    }

    /**
     * Throws unless the last launch of {@code k}'s class ran on {@code device}. Aparapi falls back
     * to Java threads silently when a launch fails on OpenCL; its per-class profile records the
     * device a launch really used (getTargetDevice() and isRunningCL() only report the preference).
     */
    static void requireRanOn(Kernel k, Device device, String what) {
        KernelProfile profile = KernelManager.instance().getProfile(k.getClass());
        KernelDeviceProfile last = profile == null ? null : profile.getLastDeviceProfile();
        if (last != null && last == profile.getDeviceProfile(device)) return;
        String ranOn = "an unknown device";
        if (profile != null && last != null) {
            for (Device d : profile.getDevices()) {
                if (profile.getDeviceProfile(d) == last) ranOn = d.getShortDescription() + " (" + d + ")";
            }
        }
        List<Device> failed = KernelManager.instance().getPreferences(k).getFailedDevices();
        throw new OpenClException("kernel " + k.getClass().getSimpleName() + " op " + what + " did not run on "
                + device.getShortDescription() + " but on " + ranOn
                + (failed.isEmpty() ? "" : "; Aparapi marked failed: " + failed)
                + " (Aparapi fell back silently; its log above gives the OpenCL error)");
    }
}
