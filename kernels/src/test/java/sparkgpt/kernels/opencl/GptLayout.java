// A one-block GPT-2 over a Backend, in llm.c's parameter and activation order, for the tests.
package sparkgpt.kernels.opencl;

import sparkgpt.kernels.Backend;

/** Offsets of a 1-layer GPT-2 (tied classifier) and its forward + backward as backend ops. */
final class GptLayout {
    final int B, T, C, NH, V, BT;
    final int numParams, numActs;
    // params (grads use the same offsets)
    final int wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb;
    // acts (gradActs use the same offsets; attScratch is the OpenCL attention backward's, unused in acts)
    final int attScratchSize;
    final int encoded, ln1, ln1Mean, ln1Rstd, qkv, atty, attStats, attScratch, attproj, residual2, ln2, ln2Mean, ln2Rstd,
            fch, fchGelu, fcproj, residual3, lnf, lnfMean, lnfRstd, logits;

    private int next;

    private int take(int n) {
        int at = next;
        next += n;
        return at;
    }

    GptLayout(int B, int T, int C, int NH, int V) {
        this.B = B;
        this.T = T;
        this.C = C;
        this.NH = NH;
        this.V = V;
        this.BT = B * T;
        next = 0;
        wte = take(V * C);
        wpe = take(T * C);
        ln1w = take(C);
        ln1b = take(C);
        qkvw = take(C * 3 * C);
        qkvb = take(3 * C);
        attprojw = take(C * C);
        attprojb = take(C);
        ln2w = take(C);
        ln2b = take(C);
        fcw = take(C * 4 * C);
        fcb = take(4 * C);
        fcprojw = take(4 * C * C);
        fcprojb = take(C);
        lnfw = take(C);
        lnfb = take(C);
        numParams = next;
        next = 0;
        encoded = take(BT * C);
        ln1 = take(BT * C);
        ln1Mean = take(BT);
        ln1Rstd = take(BT);
        qkv = take(BT * 3 * C);
        atty = take(BT * C);
        attStats = take(2 * B * NH * T);
        attScratchSize = 2 * B * NH * T * T;
        attScratch = take(attScratchSize);
        attproj = take(BT * C);
        residual2 = take(BT * C);
        ln2 = take(BT * C);
        ln2Mean = take(BT);
        ln2Rstd = take(BT);
        fch = take(BT * 4 * C);
        fchGelu = take(BT * 4 * C);
        fcproj = take(BT * C);
        residual3 = take(BT * C);
        lnf = take(BT * C);
        lnfMean = take(BT);
        lnfRstd = take(BT);
        logits = take(BT * V);
        numActs = next;
    }

    /** One micro-batch: forward, loss, zero activation gradients, backward (grads accumulate). */
    void forwardBackward(Backend b) {
        b.uploadBatch();
        b.encoderForward(encoded, wte, wpe, B, T, C);
        b.layernormForward(ln1, ln1Mean, ln1Rstd, encoded, ln1w, ln1b, BT, C);
        b.matmulForward(qkv, ln1, qkvw, qkvb, BT, C, 3 * C, false);
        b.attentionForward(atty, attStats, qkv, B, T, C, NH);
        b.matmulForward(attproj, atty, attprojw, attprojb, BT, C, C, false);
        b.residualForward(residual2, encoded, attproj, BT * C);
        b.layernormForward(ln2, ln2Mean, ln2Rstd, residual2, ln2w, ln2b, BT, C);
        b.matmulForward(fch, ln2, fcw, fcb, BT, C, 4 * C, false);
        b.geluForward(fchGelu, fch, BT * 4 * C);
        b.matmulForward(fcproj, fchGelu, fcprojw, fcprojb, BT, 4 * C, C, false);
        b.residualForward(residual3, residual2, fcproj, BT * C);
        b.layernormForward(lnf, lnfMean, lnfRstd, residual3, lnfw, lnfb, BT, C);
        b.matmulForward(logits, lnf, wte, -1, BT, C, V, true);
        b.crossEntropyForward(logits, BT, V);
        b.downloadLosses();

        b.zeroGradActs(0, numActs);
        b.crossEntropyBackward(logits, logits, 1f / BT, BT, V);
        b.matmulBackward(lnf, wte, -1, logits, lnf, wte, BT, C, V, true);
        // the gradient of the residual stream lives at residual3's offset in gradActs: both inputs of a residual
        // add get its output's gradient, and each LayerNorm backward adds its share (as the worker's Gpt does)
        int dResidual = residual3;
        b.layernormBackward(dResidual, lnfw, lnfb, lnf, residual3, lnfw, lnfMean, lnfRstd, BT, C);
        b.matmulBackward(fchGelu, fcprojw, fcprojb, dResidual, fchGelu, fcprojw, BT, 4 * C, C, false);
        b.geluBackward(fch, fch, fchGelu, BT * 4 * C);
        b.matmulBackward(ln2, fcw, fcb, fch, ln2, fcw, BT, C, 4 * C, false);
        b.layernormBackward(dResidual, ln2w, ln2b, ln2, residual2, ln2w, ln2Mean, ln2Rstd, BT, C);
        b.matmulBackward(atty, attprojw, attprojb, dResidual, atty, attprojw, BT, C, C, false);
        b.attentionBackward(qkv, attScratch, atty, qkv, atty, attStats, B, T, C, NH);
        b.matmulBackward(ln1, qkvw, qkvb, qkv, ln1, qkvw, BT, C, 3 * C, false);
        b.layernormBackward(dResidual, ln1w, ln1b, ln1, encoded, ln1w, ln1Mean, ln1Rstd, BT, C);
        b.encoderBackward(wte, wpe, dResidual, B, T, C);
        b.downloadGrads();
    }
}
