using Archestra.Runtime.Buffers;

namespace Archestra.Runtime.Tests;

public class BytePoolTests
{
    [Fact]
    public void A_buffer_over_1_MiB_is_never_handed_out_again()
    {
        var large = BytePool.Rent(BytePool.MaxPooledLength + 1);
        BytePool.Return(large);

        // The shared pool would hand the same array back to this thread at once.
        var next = BytePool.Rent(BytePool.MaxPooledLength + 1);

        Assert.NotSame(large, next);
        Assert.Equal(BytePool.MaxPooledLength + 1, next.Length);
    }

    [Fact]
    public void A_buffer_up_to_1_MiB_comes_from_the_shared_pool()
    {
        var small = BytePool.Rent(BytePool.MaxPooledLength);
        BytePool.Return(small);

        Assert.Same(small, BytePool.Rent(BytePool.MaxPooledLength));
    }
}
