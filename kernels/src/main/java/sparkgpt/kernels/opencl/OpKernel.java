// Every layer of the OpenCL backend as one Aparapi kernel: run() dispatches on the op field, so that
// the seven model arrays live in one OpenCL context and stay on the device between launches.
package sparkgpt.kernels.opencl;

import com.aparapi.Kernel;

/**
 * One op-switch kernel. Aparapi gives every Kernel object its own OpenCL context and buffers, so
 * the layers share this object instead of being one class each. The host sets the op's scalar
 * fields, then launches a Range shaped for that op (see {@link OpenClBackend}).
 *
 * <p>Rules that keep it GPU-correct: no float atomics, so every backward reduction gives each
 * output element exactly one owning work item that loops over the reduced dimension; every
 * global write is guarded by a bound because ranges are padded to a multiple of the work-group
 * size; work-group ops reach each barrier uniformly (no early return); float math only, no double.
 * The plain-Java reference of each op is the cpu package (same formulas, same llm.c names).
 *
 * <p>Aparapi restrictions followed here: if/else instead of switch or break, a single return per
 * helper, int flags instead of booleans.
 */
final class OpKernel extends Kernel {
    // GEMM blocking: a work-group computes a BM x BN block of C, each of its GEMM_ITEMS items a
    // TM x TN sub-block in registers, over K-chunks of BK staged in local memory (2 x 4 KB)
    static final int BM = 64;
    static final int BN = 64;
    static final int BK = 16;
    static final int TM = 4;
    static final int TN = 16;
    static final int GEMM_ITEMS = (BM / TM) * (BN / TN);
    // work-group size of the row-wise ops and of the element-wise ops (a power of two)
    static final int GROUP = 256;

    // ---- ops ----
    static final int ZERO = 1;
    static final int ENCODER_FORWARD = 2;
    static final int ENCODER_BACKWARD = 3;
    static final int LAYERNORM_FORWARD = 4;
    static final int LAYERNORM_BACKWARD_DINP = 5;
    static final int LAYERNORM_BACKWARD_DWEIGHT = 6;
    static final int GEMM = 7;
    static final int BIAS_BACKWARD = 8;
    static final int ATTENTION_FORWARD = 9;
    static final int ATTENTION_BACKWARD_DQ = 10;
    static final int ATTENTION_BACKWARD_DKV = 11;
    static final int GELU_FORWARD = 12;
    static final int GELU_BACKWARD = 13;
    static final int RESIDUAL_FORWARD = 14;
    static final int CROSSENTROPY_FORWARD = 15;
    static final int CROSSENTROPY_BACKWARD = 16;

    // ---- array ids for the generic GEMM and ZERO ----
    static final int PARAMS = 0;
    static final int GRADS = 1;
    static final int ACTS = 2;
    static final int GRAD_ACTS = 3;

    static final float GELU_SCALE = 0.7978845608f; // sqrt(2/pi)
    static final float LN_EPS = 1e-5f;             // GPT-2's layer_norm_epsilon

    // ---- the model's arrays (bound once; the device buffers are these objects) ----
    float[] params;
    float[] grads;
    float[] acts;
    float[] gradActs;
    float[] losses;
    int[] inputs;
    int[] targets;

    // ---- per-launch scalars; their meaning per op is given at each op ----
    int op;
    int o0, o1, o2, o3, o4, o5, o6;  // offsets into the op's arrays
    int dB, dT, dC, dNH, dN;         // shapes
    float f0;                        // dloss (cross-entropy backward)

    // generic GEMM: C[i,j] (+)= sum_k A(i,k) B(k,j) (+ bias[j]); X(r,c) = x[xOff + r*xRs + c*xCs]
    int gM, gN, gK;
    int aArr, aOff, aRs, aCs;
    int bArr, bOff, bRs, bCs;
    int cArr, cOff, cRs;
    int accumulate;  // 1: C += ..., 0: C = ...
    int biasOff;     // into params; < 0: no bias

    // ---- work-group local memory: 2 x BK*64 + 256 floats = 9 KB ----
    @Local final float[] tileA = new float[BK * BM];
    @Local final float[] tileB = new float[BK * BN];
    @Local final float[] red = new float[GROUP];

    @Override
    public void run() {
        if (op == GEMM) {
            gemm();
        } else if (op == ZERO) {
            zero();
        } else if (op == ENCODER_FORWARD) {
            encoderForward();
        } else if (op == ENCODER_BACKWARD) {
            encoderBackward();
        } else if (op == LAYERNORM_FORWARD) {
            layernormForward();
        } else if (op == LAYERNORM_BACKWARD_DINP) {
            layernormBackwardDinp();
        } else if (op == LAYERNORM_BACKWARD_DWEIGHT) {
            layernormBackwardDweight();
        } else if (op == BIAS_BACKWARD) {
            biasBackward();
        } else if (op == ATTENTION_FORWARD) {
            attentionForward();
        } else if (op == ATTENTION_BACKWARD_DQ) {
            attentionBackwardDq();
        } else if (op == ATTENTION_BACKWARD_DKV) {
            attentionBackwardDkv();
        } else if (op == GELU_FORWARD) {
            geluForward();
        } else if (op == GELU_BACKWARD) {
            geluBackward();
        } else if (op == RESIDUAL_FORWARD) {
            residualForward();
        } else if (op == CROSSENTROPY_FORWARD) {
            crossEntropyForward();
        } else if (op == CROSSENTROPY_BACKWARD) {
            crossEntropyBackward();
        }
    }

    private float read(int arr, int idx) {
        float v = 0f;
        if (arr == ACTS) {
            v = acts[idx];
        } else if (arr == GRAD_ACTS) {
            v = gradActs[idx];
        } else if (arr == PARAMS) {
            v = params[idx];
        } else {
            v = grads[idx];
        }
        return v;
    }

    private void write(int arr, int idx, float v) {
        if (arr == ACTS) {
            acts[idx] = v;
        } else if (arr == GRAD_ACTS) {
            gradActs[idx] = v;
        } else if (arr == PARAMS) {
            params[idx] = v;
        } else {
            grads[idx] = v;
        }
    }

    // Sum of v over the work-group (size G, a power of two), returned to every item. Every item
    // of the group must call it. The trailing barrier lets the next call reuse red[].
    private float groupSum(float v, int lid, int G) {
        red[lid] = v;
        localBarrier();
        for (int s = G / 2; s > 0; s = s / 2) {
            if (lid < s) {
                red[lid] = red[lid] + red[lid + s];
            }
            localBarrier();
        }
        float r = red[0];
        localBarrier();
        return r;
    }

    private float groupMax(float v, int lid, int G) {
        red[lid] = v;
        localBarrier();
        for (int s = G / 2; s > 0; s = s / 2) {
            if (lid < s) {
                red[lid] = max(red[lid], red[lid + s]);
            }
            localBarrier();
        }
        float r = red[0];
        localBarrier();
        return r;
    }

    // ZERO: arr o0 [o1, o1 + dN) = 0. 1D range over dN.
    private void zero() {
        int i = getGlobalId();
        if (i < dN) {
            write(o0, o1 + i, 0f);
        }
    }

    // ENCODER_FORWARD: acts[o0] (B,T,C) = wte[inputs[b,t]] + wpe[t]; wte = params[o1], wpe = params[o2].
    // 1D range over B*T*C.
    private void encoderForward() {
        int i = getGlobalId();
        if (i < dB * dT * dC) {
            int bt = i / dC;
            int c = i % dC;
            int t = bt % dT;
            acts[o0 + i] = params[o1 + inputs[bt] * dC + c] + params[o2 + t * dC + c];
        }
    }

    // ENCODER_BACKWARD: dwte = grads[o0], dwpe = grads[o1], dout = gradActs[o2] (B,T,C).
    // Items [0, C) own column c of dwte and loop over all (b,t) in order; items [C, C + T*C) own
    // dwpe[t,c] and loop over b. No two items touch the same element. 1D range over C + T*C.
    private void encoderBackward() {
        int i = getGlobalId();
        if (i < dC) {
            for (int bt = 0; bt < dB * dT; bt++) {
                int w = o0 + inputs[bt] * dC + i;
                grads[w] = grads[w] + gradActs[o2 + bt * dC + i];
            }
        } else if (i < dC + dT * dC) {
            int j = i - dC;
            int t = j / dC;
            int c = j % dC;
            float sum = 0f;
            for (int b = 0; b < dB; b++) {
                sum += gradActs[o2 + (b * dT + t) * dC + c];
            }
            grads[o1 + j] = grads[o1 + j] + sum;
        }
    }

    // LAYERNORM_FORWARD: out = acts[o0] (N,C), mean = acts[o1] (N), rstd = acts[o2] (N),
    // inp = acts[o3] (N,C), weight = params[o4], bias = params[o5]. One work-group per row.
    private void layernormForward() {
        int row = getGroupId();
        int lid = getLocalId();
        int G = getLocalSize();
        int x = o3 + row * dC;
        float s = 0f;
        for (int c = lid; c < dC; c += G) {
            s += acts[x + c];
        }
        float m = groupSum(s, lid, G) / dC;
        float v = 0f;
        for (int c = lid; c < dC; c += G) {
            float d = acts[x + c] - m;
            v += d * d;
        }
        float var = groupSum(v, lid, G) / dC;
        float rs = 1f / sqrt(var + LN_EPS);
        int o = o0 + row * dC;
        for (int c = lid; c < dC; c += G) {
            acts[o + c] = rs * (acts[x + c] - m) * params[o4 + c] + params[o5 + c];
        }
        if (lid == 0) {
            acts[o1 + row] = m;
            acts[o2 + row] = rs;
        }
    }

    // LAYERNORM_BACKWARD_DINP: dinp = gradActs[o0] += ..., dout = gradActs[o1], inp = acts[o2],
    // weight = params[o3], mean = acts[o4], rstd = acts[o5]. One work-group per row.
    private void layernormBackwardDinp() {
        int row = getGroupId();
        int lid = getLocalId();
        int G = getLocalSize();
        int x = o2 + row * dC;
        int d = o1 + row * dC;
        float m = acts[o4 + row];
        float rs = acts[o5 + row];
        float a = 0f;
        float b = 0f;
        for (int c = lid; c < dC; c += G) {
            float norm = (acts[x + c] - m) * rs;
            float dnorm = params[o3 + c] * gradActs[d + c];
            a += dnorm;
            b += dnorm * norm;
        }
        float dnormMean = groupSum(a, lid, G) / dC;
        float dnormNormMean = groupSum(b, lid, G) / dC;
        int o = o0 + row * dC;
        for (int c = lid; c < dC; c += G) {
            float norm = (acts[x + c] - m) * rs;
            float dnorm = params[o3 + c] * gradActs[d + c];
            gradActs[o + c] = gradActs[o + c] + (dnorm - dnormMean - norm * dnormNormMean) * rs;
        }
    }

    // LAYERNORM_BACKWARD_DWEIGHT: dweight = grads[o0], dbias = grads[o1] += sums over N rows;
    // dout = gradActs[o2], inp = acts[o3], mean = acts[o4], rstd = acts[o5]. Item c owns channel c.
    // 1D range over C.
    private void layernormBackwardDweight() {
        int c = getGlobalId();
        if (c < dC) {
            float dw = 0f;
            float db = 0f;
            for (int n = 0; n < dN; n++) {
                float g = gradActs[o2 + n * dC + c];
                float norm = (acts[o3 + n * dC + c] - acts[o4 + n]) * acts[o5 + n];
                dw += norm * g;
                db += g;
            }
            grads[o0 + c] = grads[o0 + c] + dw;
            grads[o1 + c] = grads[o1 + c] + db;
        }
    }

    // GEMM, register-blocked: a work-group of (BN/TN) x (BM/TM) = 64 items computes a BM x BN
    // block of C; item (lx, ly) owns the TM x TN sub-block at rows ly*TM.., columns lx*TN.. and
    // accumulates it in a private array. Per K-chunk of BK the group stages A (BM x BK) and
    // B (BK x BN) in local memory, both k-major, so the inner loop reads TM + TN local floats for
    // TM * TN multiply-adds. Each operand is loaded in the order of its contiguous global
    // dimension (A: k-fast when aCs == 1, else m-fast; B: n-fast when bCs == 1, else k-fast), so
    // transposed operands are transposed at tile-load time and global loads stay coalesced.
    // 2D range (roundUp(gN, BN) / TN, roundUp(gM, BM) / TM), local (BN/TN, BM/TM). Every item
    // reaches both barriers of every K-chunk; loads outside the matrices read as 0; writes are
    // guarded. The array branches (aArr, bArr, cArr) are uniform per launch and sit in the load
    // and store phases only, never in the multiply-add loop (the old per-load read() branch
    // chain kept PoCL from vectorizing it).
    private void gemm() {
        int lx = getLocalId(0);
        int ly = getLocalId(1);
        int lid = ly * (BN / TN) + lx;
        int row0 = getGroupId(1) * BM;
        int col0 = getGroupId(0) * BN;
        float[] acc = new float[TM * TN];
        for (int x = 0; x < TM * TN; x++) {
            acc[x] = 0f;
        }
        for (int k0 = 0; k0 < gK; k0 += BK) {
            for (int l = 0; l < BM * BK / GEMM_ITEMS; l++) {
                int t = lid + l * GEMM_ITEMS;
                int m = t % BM;
                int k = t / BM;
                if (aCs == 1) {
                    m = t / BK;
                    k = t % BK;
                }
                float v = 0f;
                if (row0 + m < gM && k0 + k < gK) {
                    int g = aOff + (row0 + m) * aRs + (k0 + k) * aCs;
                    if (aArr == ACTS) {
                        v = acts[g];
                    } else {
                        v = gradActs[g];
                    }
                }
                tileA[k * BM + m] = v;
            }
            for (int l = 0; l < BK * BN / GEMM_ITEMS; l++) {
                int t = lid + l * GEMM_ITEMS;
                int n = t / BK;
                int k = t % BK;
                if (bCs == 1) {
                    n = t % BN;
                    k = t / BN;
                }
                float v = 0f;
                if (col0 + n < gN && k0 + k < gK) {
                    int g = bOff + (k0 + k) * bRs + (col0 + n) * bCs;
                    if (bArr == PARAMS) {
                        v = params[g];
                    } else if (bArr == ACTS) {
                        v = acts[g];
                    } else {
                        v = gradActs[g];
                    }
                }
                tileB[k * BN + n] = v;
            }
            localBarrier();
            // the c loop is innermost over TN contiguous floats of B: a CPU compiler vectorizes it
            for (int kk = 0; kk < BK; kk++) {
                for (int r = 0; r < TM; r++) {
                    float a = tileA[kk * BM + ly * TM + r];
                    for (int c = 0; c < TN; c++) {
                        acc[r * TN + c] += a * tileB[kk * BN + lx * TN + c];
                    }
                }
            }
            localBarrier();
        }
        for (int r = 0; r < TM; r++) {
            for (int c = 0; c < TN; c++) {
                gemmStore(row0 + ly * TM + r, col0 + lx * TN + c, acc[r * TN + c]);
            }
        }
    }

    // C[i, j] = v (+ bias[j]) (+ C[i, j]), skipped outside the matrix (ranges are padded).
    private void gemmStore(int i, int j, float v) {
        if (i < gM && j < gN) {
            float sum = v;
            if (biasOff >= 0) {
                sum += params[biasOff + j];
            }
            int idx = cOff + i * cRs + j;
            if (accumulate == 1) {
                sum += read(cArr, idx);
            }
            write(cArr, idx, sum);
        }
    }

    // BIAS_BACKWARD: dbias = grads[o0] (OC) += sum over N of dout = gradActs[o1] (N,OC); dC = OC.
    // Item oc owns dbias[oc]. 1D range over OC.
    private void biasBackward() {
        int oc = getGlobalId();
        if (oc < dC) {
            float sum = 0f;
            for (int n = 0; n < dN; n++) {
                sum += gradActs[o1 + n * dC + oc];
            }
            grads[o0 + oc] = grads[o0 + oc] + sum;
        }
    }

    // ATTENTION_FORWARD: out = acts[o0] (B,T,C), stats = acts[o1] (B,NH,T,2), qkv = acts[o3] (B,T,3C).
    // Item (b,h,t) owns row t of its head: one pass over t2 <= t with a running max (the output row
    // is rescaled when the max grows), so the (T,T) probabilities are never stored; stats keeps the
    // row's max and 1/sum for the backward pass. 1D range over B*NH*T.
    private void attentionForward() {
        int idx = getGlobalId();
        if (idx < dB * dNH * dT) {
            int t = idx % dT;
            int bh = idx / dT;
            int b = bh / dNH;
            int h = bh % dNH;
            int hs = dC / dNH;
            int C3 = 3 * dC;
            float scale = 1f / sqrt((float) hs);
            int q = o3 + (b * dT + t) * C3 + h * hs;
            int o = o0 + (b * dT + t) * dC + h * hs;
            for (int i = 0; i < hs; i++) {
                acts[o + i] = 0f;
            }
            float mx = 0f;
            float sum = 0f;
            for (int t2 = 0; t2 <= t; t2++) {
                int k = o3 + (b * dT + t2) * C3 + h * hs + dC;
                float s = 0f;
                for (int i = 0; i < hs; i++) {
                    s += acts[q + i] * acts[k + i];
                }
                s *= scale;
                float corr = 1f;
                if (t2 == 0) {
                    mx = s;
                } else if (s > mx) {
                    corr = exp(mx - s);
                    mx = s;
                }
                float e = exp(s - mx);
                sum = sum * corr + e;
                int v = k + dC;
                for (int i = 0; i < hs; i++) {
                    acts[o + i] = acts[o + i] * corr + e * acts[v + i];
                }
            }
            float inv = 1f / sum;
            for (int i = 0; i < hs; i++) {
                acts[o + i] = acts[o + i] * inv;
            }
            int st = o1 + (bh * dT + t) * 2;
            acts[st] = mx;
            acts[st + 1] = inv;
        }
    }

    // ATTENTION_BACKWARD_DQ: dqkv = gradActs[o0], scratch = gradActs[o1] (att, then dpreatt, each
    // (B,NH,T,T)), dout = gradActs[o2], qkv = acts[o3], out = acts[o4], stats = acts[o5]. Item (b,h,t)
    // recomputes row t of att from q, k and stats, writes it and dpreatt = the scaled softmax backward
    // (sum(att * datt) = dout . out) to the scratch for the next op, and writes dpreatt . k to dq.
    // 1D range over B*NH*T. dk and dv (written by many t) are the next op.
    private void attentionBackwardDq() {
        int idx = getGlobalId();
        if (idx < dB * dNH * dT) {
            int t = idx % dT;
            int bh = idx / dT;
            int b = bh / dNH;
            int h = bh % dNH;
            int hs = dC / dNH;
            int C3 = 3 * dC;
            float scale = 1f / sqrt((float) hs);
            int at = o1 + (bh * dT + t) * dT;
            int dpre = at + dB * dNH * dT * dT;
            int dout = o2 + (b * dT + t) * dC + h * hs;
            int out = o4 + (b * dT + t) * dC + h * hs;
            int q = o3 + (b * dT + t) * C3 + h * hs;
            float mx = acts[o5 + (bh * dT + t) * 2];
            float inv = acts[o5 + (bh * dT + t) * 2 + 1];
            float dot = 0f;
            for (int i = 0; i < hs; i++) {
                dot += gradActs[dout + i] * acts[out + i];
            }
            for (int t2 = 0; t2 <= t; t2++) {
                int k = o3 + (b * dT + t2) * C3 + h * hs + dC;
                float s = 0f;
                float da = 0f;
                for (int i = 0; i < hs; i++) {
                    s += acts[q + i] * acts[k + i];
                    da += acts[k + dC + i] * gradActs[dout + i];
                }
                float p = exp(s * scale - mx) * inv;
                gradActs[at + t2] = p;
                gradActs[dpre + t2] = p * (da - dot) * scale;
            }
            int dq = o0 + (b * dT + t) * C3 + h * hs;
            for (int i = 0; i < hs; i++) {
                float acc = 0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    acc += gradActs[dpre + t2] * acts[o3 + (b * dT + t2) * C3 + h * hs + dC + i];
                }
                gradActs[dq + i] = acc;
            }
        }
    }

    // ATTENTION_BACKWARD_DKV: same offsets; runs after ATTENTION_BACKWARD_DQ has filled the scratch.
    // Item (b, t2, c) with c = h*hs + i owns dk[b,t2,h,i] and dv[b,t2,h,i] and loops over the
    // rows t >= t2 that attended to t2. 1D range over B*T*C.
    private void attentionBackwardDkv() {
        int idx = getGlobalId();
        if (idx < dB * dT * dC) {
            int c = idx % dC;
            int bt2 = idx / dC;
            int b = bt2 / dT;
            int t2 = bt2 % dT;
            int hs = dC / dNH;
            int h = c / hs;
            int C3 = 3 * dC;
            int bh = b * dNH + h;
            int dpre = o1 + dB * dNH * dT * dT;
            float dk = 0f;
            float dv = 0f;
            for (int t = t2; t < dT; t++) {
                int row = (bh * dT + t) * dT + t2;
                dv += gradActs[o1 + row] * gradActs[o2 + (b * dT + t) * dC + c];
                dk += gradActs[dpre + row] * acts[o3 + (b * dT + t) * C3 + c];
            }
            int base = o0 + (b * dT + t2) * C3 + c;
            gradActs[base + dC] = dk;
            gradActs[base + 2 * dC] = dv;
        }
    }

    // GELU_FORWARD: acts[o0] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), x = acts[o1]. Range dN.
    private void geluForward() {
        int i = getGlobalId();
        if (i < dN) {
            float x = acts[o1 + i];
            float cube = 0.044715f * x * x * x;
            acts[o0 + i] = 0.5f * x * (1f + tanh(GELU_SCALE * (x + cube)));
        }
    }

    // GELU_BACKWARD: gradActs[o0] = GELU'(x) * gradActs[o2] (overwritten), x = acts[o1]. Range dN.
    private void geluBackward() {
        int i = getGlobalId();
        if (i < dN) {
            float x = acts[o1 + i];
            float cube = 0.044715f * x * x * x;
            float arg = GELU_SCALE * (x + cube);
            float th = tanh(arg);
            float ch = cosh(arg);
            float sech2 = 1f / (ch * ch);
            float grad = 0.5f * (1f + th) + x * 0.5f * sech2 * GELU_SCALE * (1f + 3f * 0.044715f * x * x);
            gradActs[o0 + i] = grad * gradActs[o2 + i];
        }
    }

    // RESIDUAL_FORWARD: acts[o0] = acts[o1] + acts[o2]. Range dN.
    private void residualForward() {
        int i = getGlobalId();
        if (i < dN) {
            acts[o0 + i] = acts[o1 + i] + acts[o2 + i];
        }
    }

    // CROSSENTROPY_FORWARD: logits = acts[o0] (N,V), V = dC, softmax in place; losses[n] =
    // log(sum exp(x - max)) - (x_target - max). One work-group per row.
    private void crossEntropyForward() {
        int row = getGroupId();
        int lid = getLocalId();
        int G = getLocalSize();
        int r = o0 + row * dC;
        // read before the first barrier: after it, items overwrite the row with exponentials
        float targetLogit = acts[r + targets[row]];
        float m = acts[r];
        for (int i = lid; i < dC; i += G) {
            m = max(m, acts[r + i]);
        }
        float mx = groupMax(m, lid, G);
        float s = 0f;
        for (int i = lid; i < dC; i += G) {
            float e = exp(acts[r + i] - mx);
            acts[r + i] = e;
            s += e;
        }
        float sum = groupSum(s, lid, G);
        float inv = 1f / sum;
        for (int i = lid; i < dC; i += G) {
            acts[r + i] = acts[r + i] * inv;
        }
        if (lid == 0) {
            losses[row] = log(sum) - (targetLogit - mx);
        }
    }

    // CROSSENTROPY_BACKWARD: gradActs[o0] (N,V) = (acts[o1] - onehot(targets)) * f0, overwriting;
    // V = dC. Range N*V.
    private void crossEntropyBackward() {
        int i = getGlobalId();
        if (i < dN * dC) {
            int n = i / dC;
            int v = i % dC;
            float indicator = 0f;
            if (v == targets[n]) {
                indicator = 1f;
            }
            gradActs[o0 + i] = (acts[o1 + i] - indicator) * f0;
        }
    }
}
