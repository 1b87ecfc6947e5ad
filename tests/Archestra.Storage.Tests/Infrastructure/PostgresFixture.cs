namespace Archestra.Storage.Tests.Infrastructure;

/// <summary><see cref="PostgresServer"/> as an xunit fixture (assembly-wide for the contract tests; one per fault-test class).</summary>
public sealed class PostgresFixture : PostgresServer, IAsyncLifetime { }
