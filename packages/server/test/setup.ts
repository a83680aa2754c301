// The server depends on no backend; its tests use local destinations, so they register the local one.
import '@artifacts/local';
