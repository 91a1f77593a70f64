output "api_endpoint" {
  description = "Kubernetes API URL (the control plane's stable primary IP)."
  value       = "https://${hcloud_primary_ip.api.ip_address}:6443"
}

output "cluster_ca_certificate" {
  description = "PEM of the API server's CA."
  value       = tls_self_signed_cert.ca["server-ca"].cert_pem
}

output "client_certificate" {
  description = "PEM of the cluster-admin client certificate."
  value       = tls_locally_signed_cert.admin.cert_pem
}

output "client_key" {
  description = "PEM key of the cluster-admin client certificate."
  value       = tls_private_key.admin.private_key_pem
  sensitive   = true
}

output "kubeconfig" {
  description = "Cluster-admin kubeconfig; keep it out of logs and rotate by replacing tls_locally_signed_cert.admin."
  sensitive   = true
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = var.name
    clusters = [{
      name    = var.name
      cluster = { server = "https://${hcloud_primary_ip.api.ip_address}:6443", certificate-authority-data = base64encode(tls_self_signed_cert.ca["server-ca"].cert_pem) }
    }]
    contexts = [{ name = var.name, context = { cluster = var.name, user = "${var.name}-admin" } }]
    users = [{
      name = "${var.name}-admin"
      user = {
        client-certificate-data = base64encode(tls_locally_signed_cert.admin.cert_pem)
        client-key-data         = base64encode(tls_private_key.admin.private_key_pem)
      }
    }]
  })
}

output "ingress_ipv4_addresses" {
  description = "Public IPv4 of every node; k3s' service load balancer answers ingress traffic on each (DNS targets)."
  value       = concat(hcloud_server.server[*].ipv4_address, hcloud_server.agent[*].ipv4_address)
}

output "network_id" {
  description = "Private network of the nodes."
  value       = hcloud_network.this.id
}
