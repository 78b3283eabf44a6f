// Causal multi-head self-attention (llm.c attention_forward / attention_backward) on the cpu.
package sparkgpt.kernels.cpu;

final class Attention {
    private Attention() {}

    // qkv (B,T,3C) holds q,k,v; preatt, att (B,NH,T,T); out (B,T,C). Row t attends to t2 <= t,
    // scores scaled by 1/sqrt(hs); entries t2 > t of att are 0.
    static void forward(float[] acts, int outOff, int preattOff, int attOff, int qkvOff,
                        int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        int C3 = 3 * C;
        Threads.parallelFor(B * NH, (from, to) -> {
            for (int bh = from; bh < to; bh++) {
                int b = bh / NH, h = bh % NH;
                for (int t = 0; t < T; t++) {
                    int q = qkvOff + (b * T + t) * C3 + h * hs;
                    int pre = preattOff + (bh * T + t) * T;
                    int at = attOff + (bh * T + t) * T;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int t2 = 0; t2 <= t; t2++) {
                        int k = qkvOff + (b * T + t2) * C3 + h * hs + C;
                        float v = 0f;
                        for (int i = 0; i < hs; i++) v += acts[q + i] * acts[k + i];
                        v *= scale;
                        max = Math.max(max, v);
                        acts[pre + t2] = v;
                    }
                    float sum = 0f;
                    for (int t2 = 0; t2 <= t; t2++) {
                        float e = (float) Math.exp(acts[pre + t2] - max);
                        acts[at + t2] = e;
                        sum += e;
                    }
                    float inv = 1f / sum;
                    for (int t2 = 0; t2 < T; t2++) acts[at + t2] = t2 <= t ? acts[at + t2] * inv : 0f;
                    int o = outOff + (b * T + t) * C + h * hs;
                    for (int i = 0; i < hs; i++) acts[o + i] = 0f;
                    for (int t2 = 0; t2 <= t; t2++) {
                        int v = qkvOff + (b * T + t2) * C3 + h * hs + 2 * C;
                        float a = acts[at + t2];
                        for (int i = 0; i < hs; i++) acts[o + i] += a * acts[v + i];
                    }
                }
            }
        });
    }

    // dqkv += ...; dpreatt and datt are scratch. Parallel over (b, h): each pair owns its head's
    // columns of dqkv, so there are no write races.
    static void backward(float[] dacts, int dqkvOff, int dpreattOff, int dattOff, int doutOff,
                         float[] acts, int qkvOff, int attOff, int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        int C3 = 3 * C;
        Threads.parallelFor(B * NH, (from, to) -> {
            for (int bh = from; bh < to; bh++) {
                int b = bh / NH, h = bh % NH;
                for (int t = 0; t < T; t++) {
                    int at = attOff + (bh * T + t) * T;
                    int dat = dattOff + (bh * T + t) * T;
                    int dpre = dpreattOff + (bh * T + t) * T;
                    int dq = dqkvOff + (b * T + t) * C3 + h * hs;
                    int q = qkvOff + (b * T + t) * C3 + h * hs;
                    int dout = doutOff + (b * T + t) * C + h * hs;
                    // backward through the value accumulation
                    for (int t2 = 0; t2 <= t; t2++) {
                        int v = qkvOff + (b * T + t2) * C3 + h * hs + 2 * C;
                        int dv = dqkvOff + (b * T + t2) * C3 + h * hs + 2 * C;
                        float a = acts[at + t2];
                        float da = 0f;
                        for (int i = 0; i < hs; i++) {
                            da += acts[v + i] * dacts[dout + i];
                            dacts[dv + i] += a * dacts[dout + i];
                        }
                        dacts[dat + t2] += da;
                    }
                    // backward through the softmax: dpre = att * (datt - sum(att * datt))
                    float dot = 0f;
                    for (int t2 = 0; t2 <= t; t2++) dot += acts[at + t2] * dacts[dat + t2];
                    for (int t2 = 0; t2 <= t; t2++) {
                        dacts[dpre + t2] += acts[at + t2] * (dacts[dat + t2] - dot);
                    }
                    // backward through q . k
                    for (int t2 = 0; t2 <= t; t2++) {
                        int k = qkvOff + (b * T + t2) * C3 + h * hs + C;
                        int dk = dqkvOff + (b * T + t2) * C3 + h * hs + C;
                        float d = dacts[dpre + t2] * scale;
                        for (int i = 0; i < hs; i++) {
                            dacts[dq + i] += acts[k + i] * d;
                            dacts[dk + i] += acts[q + i] * d;
                        }
                    }
                }
            }
        });
    }
}
