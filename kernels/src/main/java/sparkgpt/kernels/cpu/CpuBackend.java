// The pure-Java backend: every op runs in place on the model's arrays with the shared cpu threads.
package sparkgpt.kernels.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import sparkgpt.kernels.Backend;
import sparkgpt.kernels.Parallel;

/** Plain Java, multithreaded, SIMD matmuls; the reference the OpenCL kernels are checked against. */
public final class CpuBackend implements Backend {
    private float[] params, grads, acts, gradActs, losses;
    private int[] inputs, targets;

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String device() {
        return "cpu: " + Parallel.threads() + " threads, " + FloatVector.SPECIES_PREFERRED.length()
                + " float lanes (" + FloatVector.SPECIES_PREFERRED.vectorBitSize() + "-bit vectors)";
    }

    @Override
    public void bind(float[] params, float[] grads, float[] acts, float[] gradActs,
                     float[] losses, int[] inputs, int[] targets) {
        this.params = params;
        this.grads = grads;
        this.acts = acts;
        this.gradActs = gradActs;
        this.losses = losses;
        this.inputs = inputs;
        this.targets = targets;
    }

    // the arrays are the device: nothing to move
    @Override public void uploadParams() {}
    @Override public boolean readsHostParams() { return true; }
    @Override public void uploadBatch() {}
    @Override public void downloadLosses() {}
    @Override public void downloadGrads() {}
    @Override public void uploadGrads() {}
    @Override public void downloadActs() {}
    @Override public void downloadGradActs() {}
    @Override public void uploadActs() {}
    @Override public void uploadGradActs() {}

    @Override
    public void zeroGrads() {
        fillZero(grads);
    }

    @Override
    public void zeroGradActs(int dOff, int n) {
        Parallel.parallelFor(n, (from, to) -> Arrays.fill(gradActs, dOff + from, dOff + to, 0f));
    }

    private static void fillZero(float[] a) {
        Parallel.parallelFor(a.length, (from, to) -> Arrays.fill(a, from, to, 0f));
    }

    @Override
    public void encoderForward(int aOut, int pWte, int pWpe, int B, int T, int C) {
        Encoder.forward(acts, aOut, inputs, params, pWte, pWpe, B, T, C);
    }

    @Override
    public void layernormForward(int aOut, int aMean, int aRstd, int aInp, int pWeight, int pBias, int N, int C) {
        LayerNorm.forward(acts, aOut, aMean, aRstd, aInp, params, pWeight, pBias, N, C);
    }

    @Override
    public void matmulForward(int aOut, int aInp, int pWeight, int pBias, int N, int C, int OC, boolean transposedWeight) {
        Matmul.forward(acts, aOut, aInp, params, pWeight, pBias, N, C, OC, transposedWeight);
    }

    @Override
    public void attentionForward(int aOut, int aStats, int aQkv, int B, int T, int C, int NH) {
        Attention.forward(acts, aOut, aStats, aQkv, B, T, C, NH);
    }

    @Override
    public void geluForward(int aOut, int aInp, int n) {
        Gelu.forward(acts, aOut, aInp, n);
    }

    @Override
    public void residualForward(int aOut, int aIn1, int aIn2, int n) {
        Residual.forward(acts, aOut, aIn1, aIn2, n);
    }

    @Override
    public void crossEntropyForward(int aLogits, int N, int V) {
        CrossEntropy.forward(acts, aLogits, losses, targets, N, V);
    }

    @Override
    public void crossEntropyBackward(int dLogits, int aProbs, float dloss, int N, int V) {
        CrossEntropy.backward(gradActs, dLogits, acts, aProbs, targets, dloss, N, V);
    }

    @Override
    public void matmulBackward(int dInp, int gWeight, int gBias, int dOut, int aInp, int pWeight,
                               int N, int C, int OC, boolean transposedWeight) {
        Matmul.backward(gradActs, dInp, grads, gWeight, gBias, dOut, acts, aInp, params, pWeight, N, C, OC,
                transposedWeight);
    }

    @Override
    public void layernormBackward(int dInp, int gWeight, int gBias, int dOut, int aInp, int pWeight,
                                  int aMean, int aRstd, int N, int C) {
        LayerNorm.backward(gradActs, dInp, grads, gWeight, gBias, dOut, acts, aInp, params, pWeight, aMean, aRstd, N, C);
    }

    @Override
    public int attentionScratch(int B, int T, int C, int NH) {
        return 0; // each thread keeps one (b, h)'s T x T scores
    }

    @Override
    public void attentionBackward(int dQkv, int dScratch, int dOut, int aQkv, int aOut, int aStats,
                                  int B, int T, int C, int NH) {
        Attention.backward(gradActs, dQkv, dOut, acts, aQkv, aStats, B, T, C, NH);
    }

    @Override
    public void geluBackward(int dInp, int aInp, int dOut, int n) {
        Gelu.backward(gradActs, dInp, acts, aInp, dOut, n);
    }

    @Override
    public void encoderBackward(int gWte, int gWpe, int dOut, int B, int T, int C) {
        Encoder.backward(grads, gWte, gWpe, gradActs, dOut, inputs, B, T, C);
    }

    @Override
    public void close() {}
}
