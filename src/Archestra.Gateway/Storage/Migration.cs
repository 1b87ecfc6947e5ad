namespace Archestra.Gateway.Storage;

/// <summary>
/// One schema step. Versions are dense from 1, applied in order, each in its own transaction and recorded
/// in <c>archestra_schema</c>. Shipped migrations never change: add a new version instead.
/// </summary>
internal sealed record Migration(int Version, string Name, string Sql);
