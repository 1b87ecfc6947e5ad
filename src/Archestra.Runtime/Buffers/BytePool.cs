using System.Buffers;

namespace Archestra.Runtime.Buffers;

/// <summary>
/// Byte buffers for the gateway: <see cref="ArrayPool{T}.Shared"/> up to <see cref="MaxPooledLength"/>, plain
/// allocations above it that the GC takes back once dropped. The shared pool keeps every array it is given back, up to
/// 1 GiB, in a slot per thread and per core: a buffer that grows 16 KiB → 64 MiB while refusing a 200 MB answer left
/// ~128 MiB pooled on each thread that did it, ~1.4 GB after forty such answers (bench/README.md, "Memory bounds").
/// </summary>
public static class BytePool
{
    /// <summary>
    /// 1 MiB: a typical JSON-RPC message or LLM request fits in a pooled buffer with room to spare; a larger one is
    /// rare and costs one allocation, which is nothing next to copying and parsing that many bytes.
    /// </summary>
    public const int MaxPooledLength = 1024 * 1024;

    public static byte[] Rent(int minimumLength) =>
        minimumLength <= MaxPooledLength ? ArrayPool<byte>.Shared.Rent(minimumLength) : GC.AllocateUninitializedArray<byte>(minimumLength);

    /// <summary>Gives back an array from <see cref="Rent"/>; a large one is left to the GC.</summary>
    public static void Return(byte[] array)
    {
        if (array.Length <= MaxPooledLength)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
