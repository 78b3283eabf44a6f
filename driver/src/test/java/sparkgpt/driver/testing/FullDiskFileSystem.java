// A local file system under the scheme fulldisk:// whose disk fills up: once bytesLeft is spent, every
// write fails as a full disk does, so tests can check what a checkpoint written then leaves behind.
package sparkgpt.driver.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

public final class FullDiskFileSystem extends RawLocalFileSystem {
    public static final String SCHEME = "fulldisk";
    /** Bytes that can still be written, over all files; a write past it fails. */
    public static final AtomicLong bytesLeft = new AtomicLong(Long.MAX_VALUE);

    @Override
    public URI getUri() {
        return URI.create(SCHEME + ":///");
    }

    @Override
    public String getScheme() {
        return SCHEME;
    }

    @Override
    public FSDataOutputStream create(Path f, boolean overwrite, int bufferSize, short replication, long blockSize,
                                     Progressable progress) throws IOException {
        return limited(super.create(f, overwrite, bufferSize, replication, blockSize, progress));
    }

    @Override
    public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize,
                                     short replication, long blockSize, Progressable progress) throws IOException {
        return limited(super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress));
    }

    @Override
    public FSDataOutputStream append(Path f, int bufferSize, Progressable progress) throws IOException {
        return limited(super.append(f, bufferSize, progress));
    }

    private static FSDataOutputStream limited(FSDataOutputStream real) throws IOException {
        return new FSDataOutputStream(new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                take(1);
                real.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                take(len);
                real.write(b, off, len);
            }

            @Override
            public void flush() throws IOException {
                real.flush();
            }

            @Override
            public void close() throws IOException {
                real.close();
            }
        }, null);
    }

    private static void take(long n) throws IOException {
        if (bytesLeft.addAndGet(-n) < 0) {
            bytesLeft.set(0);
            throw new IOException("No space left on device");
        }
    }
}
