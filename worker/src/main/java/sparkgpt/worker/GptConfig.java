// The shape of a GPT-2-style model; validated on construction with messages that name the field.
package sparkgpt.worker;

/**
 * @param nLayer     transformer blocks (GPT-2 small: 12)
 * @param nHead      attention heads per block; must divide nEmbd (GPT-2 small: 12)
 * @param nEmbd      channels C (GPT-2 small: 768)
 * @param blockSize  context length T used for training, at most nPositions (GPT-2: 1024)
 * @param vocabSize  vocabulary V (GPT-2 BPE: 50257; bytes: 256)
 * @param nPositions rows of the position embedding wpe (GPT-2: 1024); a checkpoint keeps its own
 */
public record GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, int nPositions) {

    public GptConfig {
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_embd", nEmbd);
        positive("block_size", blockSize);
        positive("vocab_size", vocabSize);
        positive("n_positions", nPositions);
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd (" + nEmbd + ") must be divisible by n_head (" + nHead + ")");
        }
        if (blockSize > nPositions) {
            throw new IllegalArgumentException("block_size (" + blockSize + ") must be at most n_positions ("
                    + nPositions + ")");
        }
        if (vocabSize > 65536) {
            // token shards store uint16 ids (llm.c's format)
            throw new IllegalArgumentException("vocab_size (" + vocabSize + ") must be at most 65536");
        }
    }

    /** A model whose position table is exactly the training context. */
    public GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize) {
        this(nLayer, nHead, nEmbd, blockSize, vocabSize, blockSize);
    }

    /** The same model trained with another context length (at most nPositions). */
    public GptConfig withBlockSize(int t) {
        return new GptConfig(nLayer, nHead, nEmbd, t, vocabSize, nPositions);
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    private static void positive(String name, int v) {
        if (v <= 0) throw new IllegalArgumentException(name + " must be a positive integer, got " + v);
    }
}
