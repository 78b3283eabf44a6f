// Where each activation of one micro-batch lives in the flat activation buffer (llm.c's ActivationTensors).
package sparkgpt.worker;

/**
 * Offsets into the activation buffer for a micro-batch of B sequences of T tokens. The
 * activation-gradient buffer has the same layout. Per-layer tensors are stacked: the tensor of
 * layer l starts at base + l * (its per-layer size).
 *
 * <pre>
 *   encoded   (B,T,C)          ln1 (L,B,T,C)   ln1Mean, ln1Rstd (L,B,T)   qkv (L,B,T,3C)
 *   atty      (L,B,T,C)        preatt, att (L,B,NH,T,T)                   attproj (L,B,T,C)
 *   residual2 (L,B,T,C)        ln2 (L,B,T,C)   ln2Mean, ln2Rstd (L,B,T)   fch, fchGelu (L,B,T,4C)
 *   fcproj    (L,B,T,C)        residual3 (L,B,T,C)
 *   lnf       (B,T,C)          lnfMean, lnfRstd (B,T)                     logits (B,T,V), softmaxed in place
 * </pre>
 */
public final class ActivationLayout {
    public final int B, T, C, NH, L, V;
    public final int encoded, ln1, ln1Mean, ln1Rstd, qkv, atty, preatt, att, attproj, residual2,
            ln2, ln2Mean, ln2Rstd, fch, fchGelu, fcproj, residual3, lnf, lnfMean, lnfRstd, logits;
    private final int size;

    public ActivationLayout(GptConfig config, int batchSize) {
        B = batchSize;
        T = config.blockSize();
        C = config.nEmbd();
        NH = config.nHead();
        L = config.nLayer();
        V = config.vocabSize();
        long btc = (long) B * T * C, bt = (long) B * T, att2 = (long) B * NH * T * T;
        long o = 0;
        encoded = at(o); o += btc;
        ln1 = at(o); o += L * btc;
        ln1Mean = at(o); o += L * bt;
        ln1Rstd = at(o); o += L * bt;
        qkv = at(o); o += L * 3 * btc;
        atty = at(o); o += L * btc;
        preatt = at(o); o += L * att2;
        att = at(o); o += L * att2;
        attproj = at(o); o += L * btc;
        residual2 = at(o); o += L * btc;
        ln2 = at(o); o += L * btc;
        ln2Mean = at(o); o += L * bt;
        ln2Rstd = at(o); o += L * bt;
        fch = at(o); o += L * 4 * btc;
        fchGelu = at(o); o += L * 4 * btc;
        fcproj = at(o); o += L * btc;
        residual3 = at(o); o += L * btc;
        lnf = at(o); o += btc;
        lnfMean = at(o); o += bt;
        lnfRstd = at(o); o += bt;
        logits = at(o); o += bt * V;
        size = at(o);
    }

    private static int at(long offset) {
        if (offset > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("activations of one micro-batch exceed 2^31 floats: "
                    + "lower micro_batch_size or block_size");
        }
        return (int) offset;
    }

    /** The offsets of layer l's activations (the same offsets index their gradients). */
    public record Layer(int residual, int ln1, int ln1Mean, int ln1Rstd, int qkv, int atty, int preatt, int att,
                        int attproj, int residual2, int ln2, int ln2Mean, int ln2Rstd, int fch, int fchGelu,
                        int fcproj, int residual3) {}

    /** Layer l's slices of the stacked tensors; its input residual is the encoding or layer l-1's output. */
    public Layer layer(int l) {
        int btc = B * T * C, bt = B * T, att2 = B * NH * T * T;
        return new Layer(l == 0 ? encoded : residual3 + (l - 1) * btc,
                ln1 + l * btc, ln1Mean + l * bt, ln1Rstd + l * bt, qkv + l * 3 * btc, atty + l * btc,
                preatt + l * att2, att + l * att2, attproj + l * btc, residual2 + l * btc,
                ln2 + l * btc, ln2Mean + l * bt, ln2Rstd + l * bt, fch + l * 4 * btc, fchGelu + l * 4 * btc,
                fcproj + l * btc, residual3 + l * btc);
    }

    /** Floats in the buffer. */
    public int size() {
        return size;
    }

}
