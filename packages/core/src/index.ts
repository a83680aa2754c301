export {
  checkCapabilities,
  FILE_TREE_CAPABILITIES,
  implementedCapabilities,
  objectStoreCapabilities,
} from './capabilities.js';
export {
  booleanWord,
  DEFAULT_MAX_CONCURRENCY,
  DEFAULT_MAX_RETRIES,
  envBoolean,
  envMaxConcurrency,
  envMaxRetries,
  envNumber,
  envString,
  envTransferTimeoutMs,
  repositorySettings,
  resolveTimeoutMs,
} from './config.js';
export type {
  ConnectionFactory,
  ConnectRefusal,
  ConnectTarget,
  Lease,
  PoolOptions,
  UseOptions as PoolUseOptions,
} from './connection-pool.js';
export {
  ConnectionLife,
  ConnectionPool,
  connectError,
  connectFailure,
  failedRequestUrl,
  httpTarget,
  requestFailure,
  untrustedCertificateCode,
} from './connection-pool.js';
export type { ArtifactCopy, CopyEndpoint, CopyOptions, CopyPlanOptions, CopyResult } from './copy.js';
export { copyArtifacts, copyFiles, planCopy } from './copy.js';
export { credentialWaitMs, sharedLookup, within } from './credential-wait.js';
export { DELETE_BATCH, deleteTree, forEachLimited } from './delete.js';
export type {
  BackendPlugin,
  ByteRange,
  Checksum,
  ChecksumAlgorithm,
  CompletedPart,
  CopySource,
  DriverCapabilities,
  DriverCopyOptions,
  DriverEntry,
  DriverListOptions,
  DriverReadOptions,
  DriverReadResult,
  DriverRetryPolicy,
  DriverStat,
  DriverWriteOptions,
  DriverWriteResult,
  EngineRetryOptions,
  MultipartCapability,
  MultipartUpload,
  OpenContext,
  OperationOptions,
  PartUploadCredential,
  PresignCapability,
  ReadToFileOptions,
  SentBody,
  StorageDriver,
} from './driver.js';
export { RELEASE_CHUNK } from './driver.js';
export { checkEndpoint } from './endpoint.js';
export type {
  ChunkedUploadOptions,
  ChunkedUploadTarget,
  PartLimits,
  PartRequest,
} from './engines/chunked-upload.js';
export { choosePartSize, chunkedUpload, engineOptions } from './engines/chunked-upload.js';
export type { PartedCopyOptions, PartedCopyTarget } from './engines/parted-copy.js';
export { copyInParts } from './engines/parted-copy.js';
export type { PollPlan } from './engines/poll.js';
export { pollUntilDone } from './engines/poll.js';
export type {
  RangedFileResult,
  RangedReadOptions,
  RangedReadResult,
  RangeRequest,
  RangeResponse,
  RangeSource,
  ServedRange,
} from './engines/ranged-read.js';
export { rangedRead, rangedReadToFile, sliceServed } from './engines/ranged-read.js';
export type { RangedReader, RangedReaderSpec, RangedReadPlan } from './engines/ranged-reader.js';
export { rangedReader } from './engines/ranged-reader.js';
export type { RequestContext, RequestPolicy } from './engines/request-watch.js';
export { bodyOf, runRequest } from './engines/request-watch.js';
export type { ArtifactsErrorCode, ArtifactsErrorOptions, FailedFile, HttpErrorBody } from './errors.js';
export {
  ArtifactsError,
  codeForHttpStatus,
  isAbortError,
  isConnectionError,
  isTemporaryError,
  isTemporaryHttpStatus,
  parseHttpErrorBody,
  scrub,
  toArtifactsError,
} from './errors.js';
export type { HttpAnswer, HttpExchange, HttpPoolOptions, HttpTlsOptions } from './http-client.js';
export { discardBody, HttpPool, headerString, nodeHttp, readBodyText } from './http-client.js';
export type { Hasher } from './internal/checksum.js';
export { crc32c, crcCombine, createHasher } from './internal/checksum.js';
export type { FileBodyOptions } from './internal/file-body.js';
/** The one reader of local files: core's upload body, and the local driver's reads. */
export { FileBody, ReadBufferPool } from './internal/file-body.js';
/** At most `limit` tasks at once, the rest in order (hdfs makes its SPNEGO tokens one at a time). */
export { Limiter } from './internal/pool.js';
export type { WriteBody } from './internal/streams.js';
export { withLimit } from './layers/limit.js';
export type { RequestRetry, Retrier, RetryEvent, RetryOptions, TransferPart } from './layers/retry.js';
export {
  backoffDelayMs,
  createRetrier,
  defaultRequestRetry,
  mlflowRetrySchedule,
  parseRetryAfter,
  withRetry,
} from './layers/retry.js';
export { withTimeout } from './layers/timeout.js';
export type { DriverOverrides } from './layers/wrap.js';
export { wrapDriver } from './layers/wrap.js';
export { lazily } from './lazily.js';
export { lendChunks, releaseChunk, releaseWritten } from './lent-chunks.js';
export type { MlflowClientAuth, MlflowClientOptions, MlflowSendOptions } from './mlflow-client.js';
export { MlflowHttpClient, mlflowClientSettings, mlflowErrorCode } from './mlflow-client.js';
export type {
  CredentialsSettingSpec,
  MemberType,
  ObjectSettingSpec,
  ObjectSettingValue,
} from './object-setting.js';
export { credentialsObjectSetting, credentialsSetting, objectSetting } from './object-setting.js';
export type { ListPage } from './object-store.js';
export { listPages, ObjectNames, parseContentRange, parseHttpDate } from './object-store.js';
export type { ObjectAddress, ObjectStoreInit } from './object-store-driver.js';
export { ObjectStoreDriver } from './object-store-driver.js';
export { objectStoreSettings } from './object-store-settings.js';
export type { ListedObject, ObjectListing, ObjectListRequest } from './object-tree.js';
export { mappedCalls, ObjectTree } from './object-tree.js';
export type { RepositoryOptions } from './open.js';
export { openRepository } from './open.js';
export type { ValidatePathOptions } from './path-safety.js';
export { baseName, joinKey, parentKey, validateArtifactPath } from './path-safety.js';
export type {
  CorkableSocket,
  PipelinedReadOptions,
  PipelineTuning,
  PositionedReads,
  PositionedWrites,
} from './pipelined-io.js';
export { PipelinedReadStream, writePipelined } from './pipelined-io.js';
export {
  FIRST_PARTY_BACKENDS,
  importOptional,
  isModuleNotFound,
  registerBackend,
  registeredSchemes,
  resolveBackend,
} from './registry.js';
export type {
  ConnectionSigns,
  ConnectionUser,
  DeletePathIo,
  FileEntry,
  FileTreeIo,
  ListedEntry,
  MakeDirectoryIo,
  PathInfo,
  PathKind,
  RemoteFileIo,
  RemoteReplaceSteps,
  RenameIo,
} from './remote-files.js';
export {
  connectionErrorTest,
  deleteFilePath,
  listFileTree,
  makeDirectories,
  NO_CONNECTIONS,
  PooledFileDriver,
  RemoteFiles,
  removeFileTree,
  renameOver,
} from './remote-files.js';
export {
  copyFileSync,
  intoTempFile,
  intoTempFileSync,
  localSweepDirectory,
  onLocalDisk,
} from './repository/local-files.js';
export type {
  FileInfo,
  OpenInfo,
  ProgressEvent,
  ReadOptions,
  StatInfo,
  TransferOptions,
  WriteOptions,
} from './repository.js';
export { ArtifactRepository, guessContentType } from './repository.js';
export { expandHome, localUserName, pathOrNone, readSettingFile } from './setting-files.js';
export type {
  Alternatives,
  OptionsOf,
  ResolvedSettings,
  ResolveLayers,
  SettingSpec,
  Settings,
  SettingsRules,
  SettingsValues,
} from './settings.js';
export {
  closestName,
  connectionPoolSettings,
  defineSettings,
  KiB,
  MiB,
  readEnvSetting,
} from './settings.js';
export { DEFAULT_PRESIGN_SECONDS, MAX_PRESIGN_SECONDS, presignSeconds, sortedParts } from './signing.js';
export type { SignedRequest, SigningCredentials } from './sigv4.js';
export { EMPTY_SHA256, payloadSha256, SigV4, sigV4ByRegion } from './sigv4.js';
/** SPNEGO (Kerberos over HTTP): hdfs's WebHDFS client and the artifact proxy's client. */
export type { KerberosAuth, SpnegoUser } from './spnego.js';
export { asksForNegotiate, Spnego, spnegoToken } from './spnego.js';
export type { StoreRangeOptions } from './store-driver.js';
export {
  deleteEach,
  mapBodyErrors,
  partCredentials,
  rangeResponse,
  splitAddress,
  statFromHeaders,
  storeRange,
} from './store-driver.js';
export { xmlErrorDetailOr } from './store-error-headers.js';
export type {
  FileErrorRule,
  FileErrorSpec,
  StoreCodeRule,
  StoreErrorSpec,
  StoreFailure,
  StoreMessage,
  StoreSubject,
} from './store-errors.js';
export {
  describeFileErrors,
  describeStoreErrors,
  fileProtocolError,
  firstLine,
  storeErrors,
} from './store-errors.js';
export type {
  FailedAnswer,
  OutgoingRequest,
  StoreErrorDetail,
  StoreHttpOptions,
  StoreQuery,
  StoreRequest,
} from './store-http.js';
export {
  answerHeader,
  encodeRfc3986,
  httpStatusOf,
  jsonErrorDetail,
  readCaFile,
  refreshing,
  StoreHttp,
  StoreHttpError,
  StoreRequestFailure,
  storeRequest,
  xmlErrorDetail,
} from './store-http.js';
export { missingAs, unlessMissing } from './store-missing.js';
export { isTempFileName, removeTempFilesSync, trackTempFile } from './temp-files.js';
export type { AtomicReplaceSteps, SweepCandidate, SweepDirectory, TempOwner } from './temp-name.js';
export {
  AbandonedTemps,
  isAbandonedTemp,
  isTempName,
  OrphanTemps,
  replaceAtomically,
  TEMP_SUFFIX,
  tempAgeMatters,
  tempNameFor,
  tempOwner,
  tempPathFor,
} from './temp-name.js';
export type {
  SearchRunsOptions,
  TrackingExperiment,
  TrackingOptions,
  TrackingRunInfo,
  TrackingUri,
} from './tracking.js';
export {
  isTrackingUri,
  parseTrackingUri,
  resolveTrackingUri,
  TrackingClient,
  trackingSettings,
} from './tracking.js';
export type { ArtifactUri, UriParts } from './uri.js';
export {
  appendToUri,
  encodePath,
  invalidUri,
  invalidUriAuthority,
  isObjectStoreScheme,
  objectKeyPrefix,
  parseArtifactUri,
  redactUri,
  runArtifactUri,
  splitArtifactUri,
} from './uri.js';
export { deprecationOnce, forgetDeprecation } from './warn-once.js';
export type { XmlReaderOptions } from './xml.js';
export { xmlReader } from './xml.js';
export type { XmlMultipartRequest, XmlMultipartSend, XmlMultipartSpec, XmlPart } from './xml-multipart.js';
export {
  abortXmlMultipart,
  completeXmlMultipart,
  createXmlMultipart,
  escapeXml,
  xmlMultipartCapability,
  xmlUpload,
} from './xml-multipart.js';
