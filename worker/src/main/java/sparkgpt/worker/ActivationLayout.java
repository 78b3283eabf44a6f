// Where each activation of one micro-batch lives in the flat activation buffer (llm.c's ActivationTensors),
// and where the backward pass keeps the gradients of the activations.
package sparkgpt.worker;

/**
 * Offsets into the activation buffer for a micro-batch of B sequences of T tokens. Per-layer tensors
 * are stacked: the tensor of layer l starts at base + l * (its per-layer size).
 *
 * <pre>
 *   encoded   (B,T,C)          ln1 (L,B,T,C)   ln1Mean, ln1Rstd (L,B,T)   qkv (L,B,T,3C)
 *   atty      (L,B,T,C)        attStats (L,B,NH,T,2)                      residual2 (L,B,T,C)
 *   ln2       (L,B,T,C)        ln2Mean, ln2Rstd (L,B,T)                   fch, fchGelu (L,B,T,4C)
 *   residual3 (L,B,T,C)        proj (B,T,C)
 *   lnf       (B,T,C)          lnfMean, lnfRstd (B,T)                     logits (B,T,V), softmaxed in place
 * </pre>
 *
 * What backward does not read is not kept per layer: the attention probabilities (L,B,NH,T,T) are
 * recomputed from qkv and each row's softmax max and 1/sum (attStats), and the two projections' outputs
 * share one buffer (proj), added to the residual stream as soon as they are made. The gradients of the
 * activations ({@link Grads}) take one layer's worth, reused from layer to layer.
 */
public final class ActivationLayout {
    public final int B, T, C, NH, L, V;
    public final int encoded, ln1, ln1Mean, ln1Rstd, qkv, atty, attStats, residual2,
            ln2, ln2Mean, ln2Rstd, fch, fchGelu, residual3, proj, lnf, lnfMean, lnfRstd, logits;
    public final Grads grads;
    private final int size;

    /**
     * @param attentionScratch floats of scratch the backend's attention backward needs in the gradient
     *                         buffer ({@code Backend.attentionScratch}; 0 on the cpu)
     */
    public ActivationLayout(GptConfig config, int batchSize, int attentionScratch) {
        B = batchSize;
        T = config.blockSize();
        C = config.nEmbd();
        NH = config.nHead();
        L = config.nLayer();
        V = config.vocabSize();
        long btc = (long) B * T * C, bt = (long) B * T, stats = 2L * B * NH * T;
        long o = 0;
        encoded = at(o); o += btc;
        ln1 = at(o); o += L * btc;
        ln1Mean = at(o); o += L * bt;
        ln1Rstd = at(o); o += L * bt;
        qkv = at(o); o += L * 3 * btc;
        atty = at(o); o += L * btc;
        attStats = at(o); o += L * stats;
        residual2 = at(o); o += L * btc;
        ln2 = at(o); o += L * btc;
        ln2Mean = at(o); o += L * bt;
        ln2Rstd = at(o); o += L * bt;
        fch = at(o); o += L * 4 * btc;
        fchGelu = at(o); o += L * 4 * btc;
        residual3 = at(o); o += L * btc;
        proj = at(o); o += btc;
        lnf = at(o); o += btc;
        lnfMean = at(o); o += bt;
        lnfRstd = at(o); o += bt;
        logits = at(o); o += bt * V;
        size = at(o);
        grads = new Grads(btc, bt * V, attentionScratch);
    }

    private static int at(long offset) {
        if (offset > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("activations of one micro-batch exceed 2^31 floats: "
                    + "lower micro_batch_size or block_size");
        }
        return (int) offset;
    }

    /**
     * Offsets into the gradient buffer of the backward pass (llm.c's train_gpt2.cu reuses its buffers the
     * same way). residual is the gradient of the residual stream: both inputs of a residual add get the
     * gradient of its output, so one buffer carries it from the last layer to the encoder, each
     * LayerNorm backward adding its share. The gradients inside one layer (fchGelu .. ln1)
     * are overwritten by each layer in turn (each has one writer, which overwrites: Backend), so they are
     * never zeroed; lnf's gradient borrows ln1's slot before the first of them.
     *
     * <pre>
     *   residual (B,T,C)   fchGelu, fch (B,T,4C)   ln2, atty (B,T,C)   qkv (B,T,3C)   ln1 (B,T,C)
     *   scratch (the backend's attention scratch)   logits (B,T,V), overwritten by the cross-entropy backward
     * </pre>
     */
    public static final class Grads {
        public final int residual, fchGelu, fch, ln2, atty, qkv, ln1, scratch, logits;
        private final int size;

        Grads(long btc, long btv, int attentionScratch) {
            long o = 0;
            residual = at(o); o += btc;
            fchGelu = at(o); o += 4 * btc;
            fch = at(o); o += 4 * btc;
            ln2 = at(o); o += btc;
            atty = at(o); o += btc;
            qkv = at(o); o += 3 * btc;
            ln1 = at(o); o += btc;
            scratch = at(o); o += attentionScratch;
            logits = at(o); o += btv;
            size = at(o);
        }

        /** Floats in the gradient buffer. */
        public int size() {
            return size;
        }
    }

    /** The offsets of layer l's activations. */
    public record Layer(int residual, int ln1, int ln1Mean, int ln1Rstd, int qkv, int atty, int attStats,
                        int residual2, int ln2, int ln2Mean, int ln2Rstd, int fch, int fchGelu, int residual3) {}

    /** Layer l's slices of the stacked tensors; its input residual is the encoding or layer l-1's output. */
    public Layer layer(int l) {
        int btc = B * T * C, bt = B * T, stats = 2 * B * NH * T;
        return new Layer(l == 0 ? encoded : residual3 + (l - 1) * btc,
                ln1 + l * btc, ln1Mean + l * bt, ln1Rstd + l * bt, qkv + l * 3 * btc, atty + l * btc,
                attStats + l * stats, residual2 + l * btc, ln2 + l * btc, ln2Mean + l * bt, ln2Rstd + l * bt,
                fch + l * 4 * btc, fchGelu + l * 4 * btc, residual3 + l * btc);
    }

    /** Floats in the activation buffer. */
    public int size() {
        return size;
    }

    /** Bytes of activations and activation gradients that one micro-batch keeps (fp32). */
    public long bytes() {
        return 4L * size + 4L * grads.size();
    }
}
