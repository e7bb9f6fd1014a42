"""The sans-IO HTTP core: pure functions and value types over bytes and strings; never imports asyncio."""
