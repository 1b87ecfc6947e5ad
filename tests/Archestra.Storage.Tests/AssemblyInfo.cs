using Archestra.Storage.Tests.Infrastructure;

// One PostgreSQL for the contract tests (a fresh database per test); fault tests start their own.
[assembly: AssemblyFixture(typeof(PostgresFixture))]
