/** WebSocket error codes the simulator uses; the REST API maps them onto HTTP statuses. */
export type ServiceErrorCode = 'not_found' | 'invalid_format' | 'service_validation_error' | 'home_assistant_error';

/** A failed service call, carrying the WebSocket error code Home Assistant would send. */
export class ServiceCallError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceCallError';
  }

  static notFound(domain: string, service: string): ServiceCallError {
    return new ServiceCallError('not_found', `Service ${domain}.${service} not found.`);
  }

  static invalidFormat(message: string): ServiceCallError {
    return new ServiceCallError('invalid_format', message);
  }

  static validation(message: string): ServiceCallError {
    return new ServiceCallError('service_validation_error', message);
  }
}
