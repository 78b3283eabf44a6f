// The layer operations of a GPT-2 forward and backward pass, as one interface with two
// implementations: a pure-Java cpu backend and an Aparapi/OpenCL backend.
package sparkgpt.kernels;

/**
 * A backend runs llm.c's layer set over seven flat arrays that the model binds once:
 *
 * <pre>
 *   params   (P)        all weights, in the model's parameter layout
 *   grads    (P)        gradients, same layout; backward ops ADD into it
 *   acts     (A)        forward activations of one micro-batch
 *   gradActs (G)        gradients of the activations: the model lays them out (one layer's worth,
 *                       reused from layer to layer), with the attention scratch this backend asks for
 *   losses   (B*T)      per-position cross-entropy of the last forward
 *   inputs   (B*T)      token ids
 *   targets  (B*T)      next-token ids
 * </pre>
 *
 * Every op takes offsets into these arrays, never the arrays themselves: each argument's array
 * is fixed by its name (a {@code p*} offset is into params, {@code a*} into acts, {@code g*} into
 * grads, {@code d*} into gradActs). That lets the OpenCL backend keep all seven arrays on the
 * device for a whole step and move only tokens in and gradients out.
 *
 * <p>Data movement is explicit. The cpu backend works on the arrays in place and its transfer
 * methods do nothing; the OpenCL backend copies between host and device only in them. A step is:
 * {@code uploadParams}; per micro-batch {@code uploadBatch}, forward ops, {@code downloadLosses},
 * {@code zeroGradActs}, backward ops; then {@code downloadGrads}.
 *
 * <p>Shapes follow llm.c: B batch, T time, C channels, OC output channels, NH heads, V vocabulary.
 * Matmul weights are stored as Hugging Face's Conv1D does, [in, out] = [C, OC], except the tied
 * classifier, which is wte [V, C] (the {@code transposedWeight} flag).
 */
public interface Backend extends AutoCloseable {

    /** "cpu" or "opencl". */
    String name();

    /** The device the ops really run on, for the log (e.g. "cpu: 2 threads, AVX-512 (16 lanes)"). */
    String device();

    /** Binds the model's arrays; called once, before any op. Lengths define the op ranges. */
    void bind(float[] params, float[] grads, float[] acts, float[] gradActs,
              float[] losses, int[] inputs, int[] targets);

    // ---- data movement (no-ops on the cpu backend) ----

    /** Host params -> device. After every weight update. */
    void uploadParams();

    /**
     * Whether the ops read the host params array itself (uploadParams does nothing), so that it may still be
     * filling while they run: the cpu backend. A device reads its own copy.
     */
    boolean readsHostParams();

    /** Host inputs and targets -> device. Before each micro-batch. */
    void uploadBatch();

    /** Device losses -> host. After the forward pass. */
    void downloadLosses();

    /** Device grads -> host. After the last backward of a step. */
    void downloadGrads();

    /** Host grads -> device (tests, and resuming accumulation). */
    void uploadGrads();

    /** Device acts -> host (tests and debugging only; the whole buffer). */
    void downloadActs();

    /** Device gradActs -> host (tests and debugging only; the whole buffer). */
    void downloadGradActs();

    /** Host acts -> device (tests only). */
    void uploadActs();

    /** Host gradActs -> device (tests only). */
    void uploadGradActs();

    /** grads = 0 on the device (and on the host for the cpu backend). */
    void zeroGrads();

    /** gradActs[dOff, dOff + n) = 0 on the device: the backward ops add into their gradient outputs. */
    void zeroGradActs(int dOff, int n);

    // ---- forward ----

    /** acts[aOut] (B,T,C) = wte[inputs[b,t]] + wpe[t]; wte (V,C), wpe (maxT,C). */
    void encoderForward(int aOut, int pWte, int pWpe, int B, int T, int C);

    /** LayerNorm over C with eps 1e-5: out (N,C), mean (N), rstd (N) from inp (N,C), weight (C), bias (C). */
    void layernormForward(int aOut, int aMean, int aRstd, int aInp, int pWeight, int pBias, int N, int C);

    /**
     * out (N,OC) = inp (N,C) . W + bias. W is [C,OC] (Conv1D) or, when transposedWeight, [OC,C]
     * (the tied classifier: logits = x . wte^T). pBias &lt; 0 means no bias.
     */
    void matmulForward(int aOut, int aInp, int pWeight, int pBias, int N, int C, int OC, boolean transposedWeight);

    /**
     * Causal self-attention. qkv (B,T,3C) holds q, k, v side by side; out (B,T,C). The (B,NH,T,T)
     * probabilities are not kept: stats (B,NH,T,2) holds each row's softmax max and 1/sum of the
     * scores scaled by 1/sqrt(C/NH), from which the backward pass recomputes them.
     */
    void attentionForward(int aOut, int aStats, int aQkv, int B, int T, int C, int NH);

    /** out (n) = GELU(inp), tanh approximation: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))). */
    void geluForward(int aOut, int aInp, int n);

    /** out (n) = in1 + in2. */
    void residualForward(int aOut, int aIn1, int aIn2, int n);

    /** Softmax over V, in place: logits (N,V) become probabilities; losses[i] = -log probs[i, targets[i]]. */
    void crossEntropyForward(int aLogits, int N, int V);

    // ---- backward: the parameter gradients are always ADDED to (micro-batches accumulate). Of the activation
    // gradients, those with one writer in the model are overwritten (dlogits, matmul's dinp, attention's dqkv,
    // GELU's dinp), so their buffers need no zeroing; LayerNorm's dinp is added to (the residual stream's
    // gradient, which every layer's two LayerNorms add their share to). ----

    /** dlogits (N,V) = (probs - onehot(targets)) * dloss, overwriting; dloss is d(mean loss)/d(loss_i), e.g. 1/N. */
    void crossEntropyBackward(int dLogits, int aProbs, float dloss, int N, int V);

    /** dinp = dout . W^T, overwriting; dweight += inp^T . dout (or its transpose); dbias += sum over N of dout. */
    void matmulBackward(int dInp, int gWeight, int gBias, int dOut, int aInp, int pWeight,
                        int N, int C, int OC, boolean transposedWeight);

    /** LayerNorm backward (llm.c layernorm_backward): dinp, dweight, dbias += ... */
    void layernormBackward(int dInp, int gWeight, int gBias, int dOut, int aInp, int pWeight,
                           int aMean, int aRstd, int N, int C);

    /**
     * Floats of gradActs that {@link #attentionBackward} may overwrite as scratch for one layer
     * (0 where the backend keeps its own per-thread scratch).
     */
    int attentionScratch(int B, int T, int C, int NH);

    /**
     * Attention backward: dqkv (B,T,3C) = ..., overwriting, the probabilities recomputed from qkv and stats;
     * out is the forward's output. scratch holds {@link #attentionScratch} floats, overwritten.
     */
    void attentionBackward(int dQkv, int dScratch, int dOut, int aQkv, int aOut, int aStats, int B, int T, int C, int NH);

    /** dinp = GELU'(inp) * dout, overwriting; dinp must not overlap dout (the cpu backend uses dinp as scratch first). */
    void geluBackward(int dInp, int aInp, int dOut, int n);

    /** dwte[inputs[b,t]] += dout[b,t]; dwpe[t] += dout[b,t]. Race-free: no float atomics. */
    void encoderBackward(int gWte, int gWpe, int dOut, int B, int T, int C);

    @Override
    void close();
}
