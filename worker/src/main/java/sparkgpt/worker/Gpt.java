// A GPT-2 model on one worker: the flat parameter and gradient buffers and the forward and
// backward pass of llm.c's train_gpt2.c, run through a kernel backend.
package sparkgpt.worker;

import java.util.Random;
import sparkgpt.kernels.Backend;

/**
 * Holds one micro-batch worth of activations. {@link #forward} returns the mean loss over the
 * B*T positions; {@link #backward} ADDS into the gradient buffer so that micro-batches accumulate
 * until {@link #zeroGrad}.
 */
public final class Gpt implements AutoCloseable {
    public final GptConfig config;
    public final ParameterLayout params;
    public final ActivationLayout acts;
    public final int batchSize;
    private final Backend backend;

    private final float[] paramBuf, gradBuf, actBuf, gradActBuf, losses;
    private final int[] inputs, targets;
    private boolean gradsOnHost = true;

    /**
     * @param batchSize micro-batch size B: activations are allocated for B sequences of config.blockSize()
     */
    public Gpt(GptConfig config, int batchSize, Backend backend) {
        if (batchSize <= 0) throw new IllegalArgumentException("micro_batch_size must be positive, got " + batchSize);
        this.config = config;
        this.batchSize = batchSize;
        this.backend = backend;
        this.params = new ParameterLayout(config);
        this.acts = new ActivationLayout(config, batchSize,
                backend.attentionScratch(batchSize, config.blockSize(), config.nEmbd(), config.nHead()));
        int bt = batchSize * config.blockSize();
        paramBuf = new float[params.size()];
        gradBuf = new float[params.size()];
        actBuf = new float[acts.size()];
        gradActBuf = new float[acts.grads.size()];
        losses = new float[bt];
        inputs = new int[bt];
        targets = new int[bt];
        backend.bind(paramBuf, gradBuf, actBuf, gradActBuf, losses, inputs, targets);
        backend.zeroGrads();
    }

    /** The flat parameter buffer. After changing it, call {@link #paramsChanged()}. */
    public float[] parameters() {
        return paramBuf;
    }

    /** Whether the kernels read the host parameter buffer itself (cpu), so that it may fill while they run. */
    public boolean paramsOnHost() {
        return backend.readsHostParams();
    }

    /** Tells the backend that the host parameters changed (after an update or a load). */
    public void paramsChanged() {
        backend.uploadParams();
    }

    /** Copies a full parameter vector in (e.g. the driver's broadcast weights). */
    public void setParameters(float[] source) {
        if (source.length != paramBuf.length) {
            throw new IllegalArgumentException("parameter vector has " + source.length + " floats, model expects "
                    + paramBuf.length);
        }
        System.arraycopy(source, 0, paramBuf, 0, paramBuf.length);
        backend.uploadParams();
    }

    /** The accumulated gradients, in the parameter layout (brought to the host if needed). */
    public float[] gradients() {
        if (!gradsOnHost) {
            backend.downloadGrads();
            gradsOnHost = true;
        }
        return gradBuf;
    }

    public void zeroGrad() {
        backend.zeroGrads();
        gradsOnHost = true;
    }

    /** Per-position losses of the last forward pass (B*T). */
    public float[] losses() {
        return losses;
    }

    /**
     * The (B,T,V) logits of the last forward pass made without targets (a pass with targets turns
     * them into probabilities in place). Returns the activation buffer and the offset of logits.
     */
    public float[] logits() {
        backend.downloadActs();
        return actBuf;
    }

    public String backendName() {
        return backend.name();
    }

    public String device() {
        return backend.device();
    }

    /** The GPT-2 / nanoGPT initial weights of a model, from a seed, without building the model. */
    public static float[] initialParameters(GptConfig config, long seed) {
        ParameterLayout layout = new ParameterLayout(config);
        float[] params = new float[layout.size()];
        Init.gpt2(params, layout, new Random(seed));
        return params;
    }

    /** GPT-2 / nanoGPT initialisation from a seed (see {@link Init}). */
    public void initialize(long seed) {
        Init.gpt2(paramBuf, params, new Random(seed));
        backend.uploadParams();
    }

    /**
     * Forward pass over B sequences. inputs and targets hold B*T token ids from offset off.
     * Returns the mean cross-entropy loss. With tgt == null the pass stops at the logits (for
     * sampling and tests: read them with {@link #logits()}) and returns NaN.
     */
    public float forward(int[] in, int[] tgt, int off) {
        return forward(in, tgt, off, floats -> {});
    }

    /**
     * Forward with the parameters still arriving: paramsReady(n) returns once floats [0, n) of the parameter
     * buffer are in place. It is called before the embeddings, before each layer and before the final
     * LayerNorm and head, with the end of what each reads (the layout is in that order), so a layer runs while
     * later layers' weights are still on their way. Only for a backend that reads the host buffer in place
     * ({@link #paramsOnHost}).
     */
    public float forward(int[] in, int[] tgt, int off, java.util.function.LongConsumer paramsReady) {
        int B = batchSize, T = config.blockSize(), C = config.nEmbd(), NH = config.nHead(),
                L = config.nLayer(), V = config.vocabSize();
        int N = B * T;
        for (int i = 0; i < N; i++) {
            int a = in[off + i], b = tgt == null ? 0 : tgt[off + i];
            if (a < 0 || a >= V || b < 0 || b >= V) {
                throw new IllegalArgumentException("token id " + (a < 0 || a >= V ? a : b)
                        + " out of range: vocab_size is " + V);
            }
        }
        System.arraycopy(in, off, inputs, 0, N);
        if (tgt != null) System.arraycopy(tgt, off, targets, 0, N);
        backend.uploadBatch();

        ParameterLayout p = params;
        ActivationLayout a = acts;
        int btc = N * C;
        paramsReady.accept(L > 0 ? p.ln1w[0] : p.lnfw);
        backend.encoderForward(a.encoded, p.wte, p.wpe, B, T, C);
        for (int l = 0; l < L; l++) {
            paramsReady.accept(l + 1 < L ? p.ln1w[l + 1] : p.lnfw);
            ActivationLayout.Layer x = a.layer(l);
            backend.layernormForward(x.ln1(), x.ln1Mean(), x.ln1Rstd(), x.residual(), p.ln1w[l], p.ln1b[l], N, C);
            backend.matmulForward(x.qkv(), x.ln1(), p.qkvw[l], p.qkvb[l], N, C, 3 * C, false);
            backend.attentionForward(x.atty(), x.attStats(), x.qkv(), B, T, C, NH);
            backend.matmulForward(a.proj, x.atty(), p.attprojw[l], p.attprojb[l], N, C, C, false);
            backend.residualForward(x.residual2(), x.residual(), a.proj, btc);
            backend.layernormForward(x.ln2(), x.ln2Mean(), x.ln2Rstd(), x.residual2(), p.ln2w[l], p.ln2b[l], N, C);
            backend.matmulForward(x.fch(), x.ln2(), p.fcw[l], p.fcb[l], N, C, 4 * C, false);
            backend.geluForward(x.fchGelu(), x.fch(), 4 * btc);
            backend.matmulForward(a.proj, x.fchGelu(), p.fcprojw[l], p.fcprojb[l], N, 4 * C, C, false);
            backend.residualForward(x.residual3(), x.residual2(), a.proj, btc);
        }
        int last = a.residual3 + (L - 1) * btc;
        paramsReady.accept(p.size());
        backend.layernormForward(a.lnf, a.lnfMean, a.lnfRstd, last, p.lnfw, p.lnfb, N, C);
        backend.matmulForward(a.logits, a.lnf, p.wte, -1, N, C, V, true);
        if (tgt == null) return Float.NaN;
        backend.crossEntropyForward(a.logits, N, V);
        backend.downloadLosses();

        double sum = 0;
        for (int i = 0; i < N; i++) sum += losses[i];
        return (float) (sum / N);
    }

    /** Backward of the last forward, for the mean loss over this micro-batch (llm.c's scaling). */
    public void backward() {
        backward(1f / (batchSize * config.blockSize()));
    }

    /**
     * Backward of the last forward; each position's loss is weighted by dlossPerToken (1/N for a
     * mean over N tokens, e.g. N = the whole step's global batch). Adds into the gradients.
     */
    public void backward(float dlossPerToken) {
        backward(dlossPerToken, null);
    }

    /**
     * Backward as above; gradsFinal(from) is called once floats [from, P) of the gradient buffer hold what this
     * backward adds to them: after the final LayerNorm, after each layer from the last down, and with 0 at the end
     * (the layout is in the forward pass's order, and the tied wte is written both first and last). On the last
     * micro-batch of a step those blocks are the step's gradient and may leave while the lower layers are still
     * computed. A backend that works on a device copy calls it once, with 0, after bringing the gradients to the host.
     */
    public void backward(float dlossPerToken, java.util.function.LongConsumer gradsFinal) {
        boolean inPlace = gradsFinal != null && backend.readsHostParams();
        int B = batchSize, T = config.blockSize(), C = config.nEmbd(), NH = config.nHead(),
                L = config.nLayer(), V = config.vocabSize();
        int N = B * T;
        ParameterLayout p = params;
        ActivationLayout a = acts;
        ActivationLayout.Grads d = acts.grads;
        int btc = N * C;

        // only the residual stream's gradient is added to (by every LayerNorm backward); the ops that write the
        // other activation gradients overwrite them (Backend), so nothing else needs zeroing
        backend.zeroGradActs(d.residual, btc);
        backend.crossEntropyBackward(d.logits, a.logits, dlossPerToken, N, V);
        backend.matmulBackward(d.ln1, p.wte, -1, d.logits, a.lnf, p.wte, N, C, V, true); // d.ln1 holds dlnf here
        int last = a.residual3 + (L - 1) * btc;
        backend.layernormBackward(d.residual, p.lnfw, p.lnfb, d.ln1, last, p.lnfw, a.lnfMean, a.lnfRstd, N, C);
        if (inPlace) gradsFinal.accept(p.lnfw);
        for (int l = L - 1; l >= 0; l--) {
            ActivationLayout.Layer x = a.layer(l);
            // residual3 = residual2 + fcproj: the gradient of both is d.residual's
            backend.matmulBackward(d.fchGelu, p.fcprojw[l], p.fcprojb[l], d.residual, x.fchGelu(), p.fcprojw[l], N, 4 * C, C, false);
            backend.geluBackward(d.fch, x.fch(), d.fchGelu, 4 * btc);
            backend.matmulBackward(d.ln2, p.fcw[l], p.fcb[l], d.fch, x.ln2(), p.fcw[l], N, C, 4 * C, false);
            backend.layernormBackward(d.residual, p.ln2w[l], p.ln2b[l], d.ln2, x.residual2(), p.ln2w[l], x.ln2Mean(), x.ln2Rstd(), N, C);
            // residual2 = residual + attproj: likewise
            backend.matmulBackward(d.atty, p.attprojw[l], p.attprojb[l], d.residual, x.atty(), p.attprojw[l], N, C, C, false);
            backend.attentionBackward(d.qkv, d.scratch, d.atty, x.qkv(), x.atty(), x.attStats(), B, T, C, NH);
            backend.matmulBackward(d.ln1, p.qkvw[l], p.qkvb[l], d.qkv, x.ln1(), p.qkvw[l], N, C, 3 * C, false);
            backend.layernormBackward(d.residual, p.ln1w[l], p.ln1b[l], d.ln1, x.residual(), p.ln1w[l], x.ln1Mean(), x.ln1Rstd(), N, C);
            if (inPlace) gradsFinal.accept(p.ln1w[l]);
        }
        backend.encoderBackward(p.wte, p.wpe, d.residual, B, T, C);
        gradsOnHost = false;
        if (gradsFinal != null) {
            if (!inPlace) gradients();
            gradsFinal.accept(0);
        }
    }

    @Override
    public void close() {
        backend.close();
    }
}
