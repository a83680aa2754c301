import type { FailedAnswer, StoreErrorDetail } from './store-http.js';
import { answerHeader, xmlErrorDetail } from './store-http.js';

/**
 * An XML API's error detail (`xmlErrorDetail`, for `StoreHttpOptions.errorDetail`) completed from
 * the answer's headers, which are all a HEAD's answer has: the service's code (Azure's
 * `x-ms-error-code`) and the request's id (`x-ms-request-id`, S3's `x-amz-request-id`).
 */
export function xmlErrorDetailOr(headers: {
  code?: string;
  requestId?: string;
}): (text: string, answer: FailedAnswer) => Promise<StoreErrorDetail> {
  const header = (answer: FailedAnswer, name: string | undefined) =>
    name === undefined ? undefined : answerHeader(answer, name);
  return async (text, answer) => {
    const detail = await xmlErrorDetail(text);
    return {
      code: detail.code ?? header(answer, headers.code),
      message: detail.message,
      requestId: detail.requestId ?? header(answer, headers.requestId),
    };
  };
}
