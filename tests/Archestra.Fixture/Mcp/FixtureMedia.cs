namespace Archestra.Fixture.Mcp;

/// <summary>Smallest valid media the scenarios accept (they check the MIME type and that data is present).</summary>
internal static class FixtureMedia
{
    /// <summary>A 1x1 red PNG, the image tools-call-image suggests.</summary>
    public const string PngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

    /// <summary>A WAV header with one 16-bit mono sample; tools-call-audio requires audio/wav.</summary>
    public const string WavBase64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

    public static ReadOnlyMemory<byte> Png { get; } = Convert.FromBase64String(PngBase64);

    public static ReadOnlyMemory<byte> Wav { get; } = Convert.FromBase64String(WavBase64);
}
